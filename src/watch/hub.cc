// Hub and Stream (hub.h): synced watchers fed by Publish, unsynced ones catching up from the
// store's history, responses taken by each stream's sender.
#include "watch/hub.h"

#include <algorithm>
#include <iterator>

#include "common/check.h"
#include "kv/errors.h"

namespace raftkv::watch {

// One watcher of a stream. Guarded by the hub's mutex.
struct Watcher : std::enable_shared_from_this<Watcher> {
  int64_t id = 0;
  Stream* stream = nullptr;
  WatchSpec spec;
  int64_t start_rev = 0;  // the first revision asked for (after defaults)
  bool synced = false;
  // Not yet fed anything on this member (neither synced nor read history): the compaction
  // rule for a client's own start revision applies, not the stricter one for a lagging one.
  bool fresh = true;
  bool dead = false;         // cancelled (by the client, for compaction, or the stream closed)
  bool in_ready = false;     // in stream->ready_
  int64_t min_rev = 0;       // synced: revisions below it are not for this watcher (a future start)
  int64_t next_rev = 0;      // unsynced: the first revision not read from history yet
  bool sent_events = false;  // events went out since the last progress tick

  // Revisions waiting to be sent, each whole; a progress item has no events.
  struct Item {
    int64_t rev = 0;
    bool progress = false;
    size_t bytes = 0;
    SharedEvents events;  // the revision's list when this watcher takes all of it
  };
  std::deque<Item> queue;
  size_t queued_bytes = 0;
  // Hub::dispatchRevisionLocked's tally: events of revision `share_rev` this watcher takes.
  int64_t share_rev = 0;
  size_t share_count = 0;

  bool hasWork() const { return !dead && (!queue.empty() || !synced); }
};

namespace {

const kv::KeyRange kAllKeys{std::string(1, '\0'), std::string(1, '\0')};

bool Wanted(const WatchSpec& spec, const kv::Event& e) {
  if (spec.no_put && e.type == kv::Event::Type::kPut) return false;
  if (spec.no_delete && e.type == kv::Event::Type::kDelete) return false;
  return true;
}

size_t Bytes(const std::vector<kv::Event>& events) {
  size_t n = 0;
  for (const auto& e : events) n += kv::EventBytes(e);
  return n;
}

}  // namespace

std::string TooManyWatchersReason(size_t limit) {
  return "raftkv: too many watchers on this stream (at most " + std::to_string(limit) +
         "); cancel some or open another stream";
}

// --- Stream -------------------------------------------------------------------------------

Stream::~Stream() {
  Close();
}

size_t Stream::Create(int64_t requested_id, const WatchSpec& spec) {
  Hub::Woken woken;
  size_t backlog = 0;
  {
    std::lock_guard<std::mutex> l(hub_->mu_);
    if (closed_) return 0;
    Response r;
    r.created = true;
    r.revision = hub_->published_;
    const kv::KeyRange& k = spec.keys;
    // etcd refuses key >= range_end (mvcc watchStream.Watch) and a taken id.
    if (!k.single() && !k.unbounded() && k.key >= k.end) {
      r.canceled = true;
      r.watch_id = kInvalidWatchId;
      r.cancel_reason = kErrEmptyWatcherRange;
    } else if (requested_id != kAutoWatchId && watchers_.count(requested_id) > 0) {
      r.canceled = true;
      r.watch_id = kInvalidWatchId;
      r.cancel_reason = kErrWatcherDuplicateID;
    } else if (watchers_.size() >= hub_->options_.max_watchers_per_stream) {
      // raftkv's bound (etcd has none): refused the way etcd refuses a create.
      r.canceled = true;
      r.watch_id = kInvalidWatchId;
      r.cancel_reason = TooManyWatchersReason(hub_->options_.max_watchers_per_stream);
    } else {
      int64_t id = requested_id;
      if (id == kAutoWatchId) {
        while (watchers_.count(next_auto_id_) > 0) ++next_auto_id_;
        id = next_auto_id_++;
      }
      auto w = std::make_shared<Watcher>();
      w->id = id;
      w->stream = this;
      w->spec = spec;
      w->start_rev = spec.start_revision > 0 ? spec.start_revision : hub_->published_ + 1;
      watchers_[id] = w;
      ++hub_->watchers_;
      if (w->start_rev > hub_->published_) {
        // etcd: a watcher from the next revision or a future one is synced at once; events
        // below its start are skipped.
        w->min_rev = w->start_rev;
        hub_->addSyncedLocked(w.get());
      } else {
        w->next_rev = w->start_rev;
        hub_->makeUnsyncedLocked(w.get(), w->start_rev);
        hub_->markReadyLocked(w.get(), &woken);
      }
      r.watch_id = id;
    }
    control_.push_back(std::move(r));
    backlog = noteBacklogLocked();
    hub_->wakeLocked(this, &woken);
  }
  Hub::Wake(woken);
  return backlog;
}

size_t Stream::Refuse(const std::string& reason) {
  Hub::Woken woken;
  size_t backlog = 0;
  {
    std::lock_guard<std::mutex> l(hub_->mu_);
    if (closed_) return 0;
    Response r;
    r.created = r.canceled = true;
    r.watch_id = kInvalidWatchId;
    r.revision = hub_->published_;
    r.cancel_reason = reason;
    control_.push_back(std::move(r));
    backlog = noteBacklogLocked();
    hub_->wakeLocked(this, &woken);
  }
  Hub::Wake(woken);
  return backlog;
}

size_t Stream::Cancel(int64_t watch_id) {
  Hub::Woken woken;
  size_t backlog = 0;
  {
    std::lock_guard<std::mutex> l(hub_->mu_);
    auto it = watchers_.find(watch_id);
    if (closed_ || it == watchers_.end()) return backlogLocked();
    hub_->detachLocked(it->second.get());
    // Still in ready_ (skipped there, being dead): kept alive until ready_ has drained, or
    // until retired ones make up half of it (a stream that never drains: create/cancel churn
    // beside a busy watcher), when they are taken out at once.
    if (it->second->in_ready) {
      retired_.push_back(std::move(it->second));
      if (retired_.size() > 64 && retired_.size() > ready_.size() / 2) dropRetiredLocked();
    }
    watchers_.erase(it);
    Response r;
    r.watch_id = watch_id;
    r.canceled = true;
    r.revision = hub_->published_;
    control_.push_back(std::move(r));
    backlog = noteBacklogLocked();
    hub_->wakeLocked(this, &woken);
  }
  Hub::Wake(woken);
  return backlog;
}

size_t Stream::RequestProgress() {
  Hub::Woken woken;
  size_t backlog = 0;
  {
    std::lock_guard<std::mutex> l(hub_->mu_);
    if (closed_) return 0;
    progress_requests_.push_back(hub_->published_);
    backlog = noteBacklogLocked();
    hub_->wakeLocked(this, &woken);
  }
  Hub::Wake(woken);
  return backlog;
}

void Stream::dropRetiredLocked() {
  std::erase_if(ready_, [](Watcher* w) {
    if (!w->dead) return false;
    w->in_ready = false;
    return true;
  });
  retired_.clear();
}

size_t Stream::noteBacklogLocked() {
  size_t n = backlogLocked();
  hub_->control_backlog_peak_ = std::max(hub_->control_backlog_peak_, n);
  return n;
}

size_t Stream::control_backlog() const {
  std::lock_guard<std::mutex> l(hub_->mu_);
  return backlogLocked();
}

Stream::Step Stream::Next(Response* out) {
  std::unique_lock<std::mutex> l(hub_->mu_);
  RAFTKV_CHECK(!in_next_, "one sender per stream calls Next at a time");
  if (closed_) return Step::kIdle;
  in_next_ = true;
  Step step = hub_->nextLocked(this, out, &l);
  in_next_ = false;
  return step;
}

Stream::Step Stream::NextBatch(std::vector<Response>* out, size_t max) {
  std::unique_lock<std::mutex> l(hub_->mu_);
  RAFTKV_CHECK(!in_next_, "one sender per stream calls Next at a time");
  if (closed_) return Step::kIdle;
  in_next_ = true;
  Step step = Step::kIdle;
  size_t before = out->size();
  while (out->size() - before < max) {
    // Filled where it stays: a response is not moved on its way to the caller.
    step = hub_->nextLocked(this, &out->emplace_back(), &l);
    if (step != Step::kSend) {
      out->pop_back();
      break;
    }
  }
  in_next_ = false;
  return out->size() > before ? Step::kSend : step;
}

void Stream::Close() {
  std::lock_guard<std::mutex> l(hub_->mu_);
  if (closed_) return;
  closed_ = true;
  for (auto& [id, w] : watchers_) hub_->detachLocked(w.get());
  watchers_.clear();
  ready_.clear();
  retired_.clear();
  control_.clear();
  progress_requests_.clear();
  hub_->streams_.erase(this);
}

size_t Stream::watcher_count() const {
  std::lock_guard<std::mutex> l(hub_->mu_);
  size_t n = 0;
  for (const auto& [id, w] : watchers_) n += w->dead ? 0 : 1;
  return n;
}

// --- Hub ----------------------------------------------------------------------------------

Hub::Hub(std::shared_ptr<const kv::Store> store, HubOptions options)
    : options_(options), store_(std::move(store)), published_(store_->revision()) {}

Hub::~Hub() {
  std::lock_guard<std::mutex> l(mu_);
  RAFTKV_CHECK(streams_.empty(), "every watch stream is closed before its hub goes");
}

std::shared_ptr<Stream> Hub::OpenStream(std::function<void()> wake) {
  std::shared_ptr<Stream> s(new Stream(this, std::move(wake)));
  std::lock_guard<std::mutex> l(mu_);
  streams_.insert(s.get());
  return s;
}

int64_t Hub::published() const {
  std::lock_guard<std::mutex> l(mu_);
  return published_;
}

size_t Hub::watcher_count() const {
  std::lock_guard<std::mutex> l(mu_);
  return watchers_;
}

size_t Hub::unsynced_count() const {
  std::lock_guard<std::mutex> l(mu_);
  return watchers_ - synced_;
}

size_t Hub::queued_bytes() const {
  std::lock_guard<std::mutex> l(mu_);
  size_t n = 0;
  for (Stream* s : streams_) {
    for (const auto& [id, w] : s->watchers_) n += w->queued_bytes;
  }
  return n;
}

size_t Hub::control_backlog_peak() const {
  std::lock_guard<std::mutex> l(mu_);
  return control_backlog_peak_;
}

void Hub::Publish(int64_t revision) {
  std::shared_ptr<const kv::Store> store;
  int64_t from = 0;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (revision <= published_) return;
    if (synced_ == 0) {  // nobody to hand events to: unsynced watchers read history later
      published_ = revision;
      return;
    }
    store = store_;
    from = published_ + 1;
  }
  // Only the apply thread publishes and resets, so the store and published_ cannot change
  // meanwhile; watchers created meanwhile start at `from` or later.
  kv::EventBudget unbounded{SIZE_MAX, SIZE_MAX};
  auto read = store->Events(from, revision, kAllKeys, unbounded);
  RAFTKV_CHECK(read.ok(), "a revision is published before anything can compact it");
  Woken woken;
  {
    std::lock_guard<std::mutex> l(mu_);
    dispatchLocked(std::move(read->events), &woken);
    published_ = revision;
  }
  Wake(woken);
}

void Hub::Reset(std::shared_ptr<const kv::Store> store) {
  Woken woken;
  {
    std::lock_guard<std::mutex> l(mu_);
    RAFTKV_CHECK(store->revision() >= published_, "an installed snapshot is never older");
    ++epoch_;
    store_ = std::move(store);
    // Every synced watcher now reads the revisions it has not been given from the new
    // store; those may be compacted there (cancelled then, as etcd's restore does).
    for (Stream* s : streams_) {
      for (auto& [id, w] : s->watchers_) {
        if (!w->synced) continue;
        makeUnsyncedLocked(w.get(), std::max(published_ + 1, w->min_rev));
        markReadyLocked(w.get(), &woken);
      }
    }
    published_ = store_->revision();
  }
  Wake(woken);
}

void Hub::NotifyProgress() {
  Woken woken;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (Stream* s : streams_) {
      for (auto& [id, w] : s->watchers_) {
        if (w->dead || !w->spec.progress_notify) continue;
        bool quiet = !w->sent_events;
        w->sent_events = false;
        // etcd notifies only synced watchers, and only those that got no events lately.
        if (!quiet || !w->synced || w->queue.size() >= options_.max_queued_revisions) continue;
        Watcher::Item item;
        item.rev = published_;
        item.progress = true;
        w->queue.push_back(std::move(item));
        markReadyLocked(w.get(), &woken);
      }
    }
  }
  Wake(woken);
}

void Hub::Wake(const Woken& woken) {
  for (const auto& s : woken) s->wake_();
}

void Hub::wakeLocked(Stream* s, Woken* woken) {
  if (!s->waiting_) return;
  s->waiting_ = false;
  if (auto alive = s->weak_from_this().lock()) woken->push_back(std::move(alive));
}

void Hub::markReadyLocked(Watcher* w, Woken* woken) {
  if (w->in_ready || w->dead) return;
  w->in_ready = true;
  w->stream->ready_.push_back(w);
  wakeLocked(w->stream, woken);
}

void Hub::addSyncedLocked(Watcher* w) {
  RAFTKV_CHECK(!w->synced && !w->dead, "a live watcher joins the synced set once");
  w->synced = true;
  w->fresh = false;
  ++synced_;
  if (w->spec.keys.single()) {
    by_key_[w->spec.keys.key].push_back(w);
  } else {
    ranges_.push_back(w);
  }
}

void Hub::removeSyncedLocked(Watcher* w) {
  if (!w->synced) return;
  w->synced = false;
  --synced_;
  WatcherList* list = &ranges_;
  auto key = by_key_.end();
  if (w->spec.keys.single()) {
    key = by_key_.find(w->spec.keys.key);
    RAFTKV_CHECK(key != by_key_.end(), "a synced single-key watcher is indexed by its key");
    list = &key->second;
  }
  auto it = std::find(list->begin(), list->end(), w);
  RAFTKV_CHECK(it != list->end(), "a synced watcher is in its list");
  *it = list->back();
  list->pop_back();
  if (key != by_key_.end() && key->second.empty()) by_key_.erase(key);
}

void Hub::makeUnsyncedLocked(Watcher* w, int64_t next_rev) {
  removeSyncedLocked(w);
  w->next_rev = next_rev;
}

void Hub::detachLocked(Watcher* w) {
  if (w->dead) return;
  removeSyncedLocked(w);
  w->dead = true;
  w->queue.clear();
  w->queued_bytes = 0;
  --watchers_;
}

bool Hub::Takes(const Watcher& w, const kv::Event& e) {
  return e.revision() >= w.min_rev && w.spec.keys.Contains(e.kv->key) && Wanted(w.spec, e);
}

void Hub::dispatchLocked(std::vector<kv::Event> events, Woken* woken) {
  for (size_t i = 0; i < events.size();) {
    size_t j = i;
    while (j < events.size() && events[j].revision() == events[i].revision()) ++j;
    std::vector<kv::Event> revision(std::make_move_iterator(events.begin() + i),
                                    std::make_move_iterator(events.begin() + j));
    dispatchRevisionLocked(std::move(revision), woken);
    i = j;
  }
}

// One revision: each synced watcher's share, in the revision's order. The revision's events
// become one shared list; a watcher that takes all of them (the usual case) is queued that
// list, one that takes part (a filter, other keys of a txn) a list of its own.
void Hub::dispatchRevisionLocked(std::vector<kv::Event> events, Woken* woken) {
  const int64_t rev = events.front().revision();
  shares_.clear();
  auto offer = [&](Watcher* w, const kv::Event& e) {
    if (!Takes(*w, e)) return;
    if (w->share_rev != rev) {  // revisions only grow, so a stale tally never matches
      w->share_rev = rev;
      w->share_count = 0;
      shares_.push_back(w);
    }
    ++w->share_count;
  };
  for (const kv::Event& e : events) {
    auto key = by_key_.find(e.kv->key);
    if (key != by_key_.end()) {
      for (Watcher* w : key->second) offer(w, e);
    }
    for (Watcher* w : ranges_) offer(w, e);
  }
  if (shares_.empty()) return;
  const size_t all_bytes = Bytes(events);
  auto all = std::make_shared<const EventPiece>(std::move(events));
  for (Watcher* w : shares_) {
    if (w->share_count == all->size()) {
      queueLocked(w, rev, all, all_bytes, woken);
      continue;
    }
    std::vector<kv::Event> part;
    part.reserve(w->share_count);
    for (const kv::Event& e : all->events) {
      if (Takes(*w, e)) part.push_back(e);
    }
    size_t bytes = Bytes(part);
    queueLocked(w, rev, std::make_shared<const EventPiece>(std::move(part)), bytes, woken);
  }
  // queueLocked may make a watcher unsynced, but never adds or frees one: shares_ stays valid.
}

void Hub::queueLocked(Watcher* w, int64_t rev, SharedEvents events, size_t bytes, Woken* woken) {
  bool full = w->queue.size() >= options_.max_queued_revisions ||
              w->queued_bytes + bytes > options_.max_queued_bytes;
  if (full && !w->queue.empty()) {
    // Never wait for a slow consumer: this watcher reads `rev` and later from history once
    // its queue is sent (etcd moves it to the unsynced group).
    makeUnsyncedLocked(w, rev);
    markReadyLocked(w, woken);
    return;
  }
  Watcher::Item item;
  item.rev = rev;
  item.bytes = bytes;
  item.events = std::move(events);
  w->queue.push_back(std::move(item));
  w->queued_bytes += bytes;
  markReadyLocked(w, woken);
}

int64_t Hub::progressLocked(const Watcher& w) const {
  if (!w.queue.empty()) return w.queue.front().rev - 1;
  return w.synced ? published_ : w.next_rev - 1;
}

Stream::Step Hub::nextLocked(Stream* s, Response* out, std::unique_lock<std::mutex>* lock) {
  if (!s->control_.empty()) {
    *out = std::move(s->control_.front());
    s->control_.pop_front();
    return Stream::Step::kSend;
  }
  if (!s->progress_requests_.empty()) {
    int64_t rev = s->progress_requests_.front();
    bool reached = true;
    for (const auto& [id, w] : s->watchers_) {
      if (!w->dead && progressLocked(*w) < rev) reached = false;
    }
    if (reached) {
      s->progress_requests_.pop_front();
      *out = Response();
      out->watch_id = kInvalidWatchId;
      out->revision = rev;
      return Stream::Step::kSend;
    }
  }
  while (!s->ready_.empty()) {
    Watcher* w = s->ready_.front();
    s->ready_.pop_front();
    w->in_ready = false;
    if (w->dead) continue;
    Stream::Step step;
    std::shared_ptr<Watcher> keep;  // a history read unlocks: a cancel may erase the watcher
    if (!w->queue.empty()) {
      takeQueuedLocked(w, out);
      step = Stream::Step::kSend;
    } else if (!w->synced) {
      keep = w->shared_from_this();
      step = catchUpLocked(s, w, out, lock);
    } else {
      continue;
    }
    if (w->hasWork() && !w->in_ready) {
      w->in_ready = true;
      s->ready_.push_back(w);
    }
    return step;  // kAgain: history was read without anything to send; come back
  }
  s->retired_.clear();  // ready_ is empty: nothing points at them any more
  s->waiting_ = true;
  return Stream::Step::kIdle;
}

void Hub::takeQueuedLocked(Watcher* w, Response* out) {
  *out = Response();
  out->watch_id = w->id;
  out->prev_kv = w->spec.prev_kv;
  out->fragment = w->spec.fragment;
  Watcher::Item& first = w->queue.front();
  if (first.progress) {  // a progress notification: no events, the published revision
    out->revision = first.rev;
    w->queue.pop_front();
    return;
  }
  // Consecutive revisions go out together, each whole, up to the response bounds.
  size_t bytes = 0, revs = 0;
  while (!w->queue.empty() && !w->queue.front().progress && revs < kMaxRevisionsPerResponse) {
    Watcher::Item& item = w->queue.front();
    if (revs > 0 && bytes + item.bytes > options_.max_response_bytes) break;
    bytes += item.bytes;
    ++revs;
    out->revision = item.rev;
    out->events.Append(std::move(item.events));
    w->queue.pop_front();
  }
  w->queued_bytes -= bytes;
  w->sent_events = true;
}

Stream::Step Hub::catchUpLocked(Stream* s, Watcher* w, Response* out,
                                std::unique_lock<std::mutex>* lock) {
  std::shared_ptr<const kv::Store> store = store_;
  const int64_t from = w->next_rev, to = published_;
  const uint64_t epoch = epoch_;
  auto cancelCompacted = [&](int64_t compact_rev) {
    // etcd: the watcher's history is gone; it is cancelled with the compaction revision
    // (header revision 0, as etcd's response carries). Its id stays taken until the client
    // cancels it, as in etcd's watch stream.
    detachLocked(w);
    *out = Response();
    out->watch_id = w->id;
    out->canceled = true;
    out->compact_revision = compact_rev;
    return Stream::Step::kSend;
  };
  // A watcher below the compaction revision is cancelled (etcd's rule). One that had moved
  // past its start and needs exactly the compaction revision is cancelled too: compaction
  // may have dropped that revision's deletes, which etcd would then silently skip.
  int64_t compacted = store->compact_revision();
  if (from < compacted || (from == compacted && !w->fresh)) {
    return cancelCompacted(compacted);
  }
  if (from > to) {
    w->min_rev = from;
    addSyncedLocked(w);
    return Stream::Step::kAgain;
  }
  lock->unlock();
  auto read = store->Events(from, to, w->spec.keys, options_.read_budget);
  lock->lock();
  if (w->dead || s->closed_ || epoch != epoch_) return Stream::Step::kAgain;  // read is void
  if (!read.ok()) {
    RAFTKV_CHECK(read.status().message() == kv::kErrCompacted,
                 "history up to the published revision is in the store");
    return cancelCompacted(store_->compact_revision());
  }
  w->fresh = false;
  std::vector<kv::Event> events;
  for (auto& e : read->events) {
    if (Wanted(w->spec, e)) events.push_back(std::move(e));
  }
  w->next_rev = read->through + 1;
  if (w->next_rev > published_) {
    w->min_rev = w->next_rev;
    addSyncedLocked(w);
  }
  if (events.empty()) return Stream::Step::kAgain;
  *out = Response();
  out->watch_id = w->id;
  out->revision = read->through;
  out->prev_kv = w->spec.prev_kv;
  out->fragment = w->spec.fragment;
  out->events = EventList(std::move(events));
  w->sent_events = true;
  return Stream::Step::kSend;
}

}  // namespace raftkv::watch
