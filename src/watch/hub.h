// Hub: the watch machinery of one member, between the apply thread (which publishes each
// applied revision) and the watch streams (which take responses to send). See README.md.
//
//  - Publish(rev) (apply thread): the store reached `rev`. If any watcher is synced, the
//    hub reads the new revisions' events from the store once and queues each synced watcher
//    its matching events, one queue item per revision (a txn's events stay together); a
//    watcher taking all of a revision's events shares the hub's one list of them. A
//    watcher whose queue is full is not waited for: it becomes unsynced and will read the
//    rest from the store's history. Publish never blocks on a consumer.
//  - Reset(store) (apply thread): the store was replaced (a snapshot was installed, or at
//    start). Every watcher continues from the new store's history; one whose next revision
//    is below the new compaction revision is cancelled with compact_revision, as etcd does.
//  - Stream::Next (the stream's sender, one call at a time): the next response to send:
//    control responses first (created, canceled, progress), then each watcher's queued
//    events in turn; an unsynced watcher reads history in bounded batches and rejoins the
//    synced watchers once it has read up to the published revision.
//
// Watchers never miss, duplicate or reorder a revision: a synced watcher gets every
// published revision >= its start through its queue; one that falls out (full queue,
// snapshot install) records the first revision it did not get and reads on from there.
// Thread safety: every method may be called from any thread; one mutex guards the hub. The
// store is read outside it.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "kv/events.h"
#include "kv/store.h"
#include "watch/event_list.h"
#include "watch/options.h"

namespace raftkv::watch {

// What a watcher asks for (etcd's WatchCreateRequest after its edge normalisation: an empty
// key is "\0", range_end "\0" means every key >= key).
struct WatchSpec {
  kv::KeyRange keys;
  int64_t start_revision = 0;  // 0: from the next revision
  bool prev_kv = false;
  bool no_put = false;  // filters
  bool no_delete = false;
  bool progress_notify = false;
  bool fragment = false;
};

// One response to send, as etcdserverpb.WatchResponse has it (the service adds the header's
// ids and term, and fragments).
struct Response {
  int64_t watch_id = 0;
  int64_t revision = 0;  // header.revision
  bool created = false;
  bool canceled = false;
  int64_t compact_revision = 0;
  std::string cancel_reason;
  bool prev_kv = false;   // send each event's previous version
  bool fragment = false;  // the watcher accepts fragmented responses
  // In revision order; pieces are shared with other watchers' responses (event_list.h).
  EventList events;
};

// etcd's texts for a refused create (mvcc/watcher.go).
inline constexpr char kErrEmptyWatcherRange[] = "mvcc: watcher range is empty";
inline constexpr char kErrWatcherDuplicateID[] =
    "mvcc: duplicate watch ID provided on the WatchStream";
// raftkv's refusal of a create beyond HubOptions::max_watchers_per_stream.
std::string TooManyWatchersReason(size_t limit);
// etcd's id for "no watcher" (clientv3.InvalidWatchID) and "choose one" (AutoWatchID).
inline constexpr int64_t kInvalidWatchId = -1;
inline constexpr int64_t kAutoWatchId = 0;

class Hub;
struct Watcher;

// The watchers of one client stream (one etcdserverpb.Watch call).
class Stream : public std::enable_shared_from_this<Stream> {
 public:
  enum class Step {
    kSend,   // *out holds a response
    kAgain,  // work was done (history read) but there is nothing to send yet: call again
    kIdle,   // nothing to do; `wake` will be called once there is
  };

  ~Stream();  // closes the stream
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // Each request below returns the stream's control backlog after it (control_backlog()):
  // the service stops reading the client's requests while it is at its bound.
  //
  // etcd's create: queues the `created` response (or created+canceled with etcd's reason,
  // for an empty range or a duplicate id). `requested_id` 0 lets the stream choose.
  size_t Create(int64_t requested_id, const WatchSpec& spec);
  // Queues etcd's answer to a create refused before it reaches the hub (a permission check):
  // created and canceled, watch id -1, `reason` as the cancel reason.
  size_t Refuse(const std::string& reason);
  // etcd's cancel: if the watcher exists, its pending events are dropped and a `canceled`
  // response queued; an unknown id is ignored, as etcd does.
  size_t Cancel(int64_t watch_id);
  // etcd's progress request: a response with watch id -1 whose revision every watcher of the
  // stream has been sent all events up to; it goes out once that holds.
  size_t RequestProgress();
  // Takes the next response. One caller at a time per stream (the stream's sender).
  Step Next(Response* out);
  // Takes up to `max` responses at once (one lock for all); kSend if any were appended.
  Step NextBatch(std::vector<Response>* out, size_t max);
  // Drops every watcher; Next answers kIdle from then on. Idempotent.
  void Close();

  // Watchers alive on this stream (tests and metrics).
  size_t watcher_count() const;
  // Answers to the client's requests not taken by the sender yet (created, canceled and
  // refusals queued, progress requests pending). Only the client's requests grow it, so a
  // service that stops reading requests at a bound (etcd's control channel of 16, on which
  // its receive loop blocks) bounds it: gRPC's flow control then holds the client back.
  size_t control_backlog() const;

 private:
  friend class Hub;
  Stream(Hub* hub, std::function<void()> wake) : hub_(hub), wake_(std::move(wake)) {}

  Hub* hub_;
  std::function<void()> wake_;
  // Everything below is guarded by hub_->mu_.
  std::deque<Response> control_;
  std::deque<int64_t> progress_requests_;                 // revisions of pending progress requests
  std::map<int64_t, std::shared_ptr<Watcher>> watchers_;  // by id; compacted ones stay
  // Watchers with something to send or to read, in turn. Plain pointers (no reference count
  // touched per event): each is owned by watchers_ or, once cancelled while in here, by
  // retired_ until ready_ has drained; a history read, which unlocks, holds a reference.
  std::deque<Watcher*> ready_;
  std::vector<std::shared_ptr<Watcher>> retired_;
  int64_t next_auto_id_ = 0;
  // Next answered kIdle (or was never called) and no wake has been sent since.
  bool waiting_ = true;
  bool closed_ = false;
  bool in_next_ = false;

  size_t backlogLocked() const { return control_.size() + progress_requests_.size(); }
  // Takes the dead watchers out of ready_ and frees the retired ones.
  void dropRetiredLocked();
  // After a request: records the hub's peak backlog and returns this stream's.
  size_t noteBacklogLocked();
};

class Hub {
 public:
  explicit Hub(std::shared_ptr<const kv::Store> store, HubOptions options = HubOptions());
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  // A new client stream. `wake` is called (from any thread, without locks held) when the
  // stream has something to send after Next answered kIdle; it must not block or call Next.
  // The stream closes when the last reference goes (or on Close()); it must be closed
  // before the hub is destroyed.
  std::shared_ptr<Stream> OpenStream(std::function<void()> wake);

  // Apply thread: the store's history up to `revision` may be sent. Revisions are published
  // in order; a revision not above the last one is ignored.
  void Publish(int64_t revision);
  // Apply thread: history now comes from `store` (a snapshot was installed).
  void Reset(std::shared_ptr<const kv::Store> store);
  // etcd's progress notification (every --experimental-watch-progress-notify-interval):
  // each synced watcher that asked for it and got no events since the last tick is queued an
  // empty response at the published revision.
  void NotifyProgress();

  int64_t published() const;
  // Watchers on every stream, and those of them reading history (tests and metrics).
  size_t watcher_count() const;
  size_t unsynced_count() const;
  // Bytes of keys and values queued for synced watchers, over every stream (what a slow
  // consumer can hold; each queue is bounded by HubOptions).
  size_t queued_bytes() const;
  // The largest control backlog any stream has had (Stream::control_backlog; tests and
  // metrics: it stays at the service's bound however fast a client sends requests).
  size_t control_backlog_peak() const;

 private:
  friend class Stream;
  using WatcherList = std::vector<Watcher*>;

  void addSyncedLocked(Watcher* w);
  void removeSyncedLocked(Watcher* w);
  void makeUnsyncedLocked(Watcher* w, int64_t next_rev);
  using Woken = std::vector<std::shared_ptr<Stream>>;  // streams to wake once unlocked
  void markReadyLocked(Watcher* w, Woken* woken);
  // Whether synced watcher `w` is sent event `e` (its keys, filters and start).
  static bool Takes(const Watcher& w, const kv::Event& e);
  void dispatchLocked(std::vector<kv::Event> events, Woken* woken);
  void dispatchRevisionLocked(std::vector<kv::Event> events, Woken* woken);
  void queueLocked(Watcher* w, int64_t rev, SharedEvents events, size_t bytes, Woken* woken);
  int64_t progressLocked(const Watcher& w) const;
  void detachLocked(Watcher* w);
  void wakeLocked(Stream* s, Woken* woken);
  static void Wake(const Woken& woken);

  Stream::Step nextLocked(Stream* s, Response* out, std::unique_lock<std::mutex>* lock);
  void takeQueuedLocked(Watcher* w, Response* out);
  Stream::Step catchUpLocked(Stream* s, Watcher* w, Response* out,
                             std::unique_lock<std::mutex>* lock);

  const HubOptions options_;
  mutable std::mutex mu_;
  std::shared_ptr<const kv::Store> store_;
  int64_t published_ = 0;
  uint64_t epoch_ = 0;  // bumped by Reset: history reads started before it are void
  // Synced watchers, by key (single-key watchers) and as a list (ranges).
  std::unordered_map<std::string, WatcherList> by_key_;
  WatcherList ranges_;
  size_t synced_ = 0;
  size_t watchers_ = 0;
  size_t control_backlog_peak_ = 0;
  std::set<Stream*> streams_;
  WatcherList shares_;  // dispatchRevisionLocked's scratch (kept for its capacity)
};

}  // namespace raftkv::watch
