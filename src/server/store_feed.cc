#include "server/store_feed.h"

namespace raftkv::server {

StoreFeed::StoreFeed(std::shared_ptr<kv::Store> store, watch::HubOptions options)
    : read_store_(store), hub_(store, options) {}

void StoreFeed::Install(std::shared_ptr<kv::Store> store) {
  {
    std::lock_guard<std::mutex> l(mu_);
    read_store_ = store;
  }
  hub_.Reset(std::move(store));
}

std::shared_ptr<kv::Store> StoreFeed::ReadStore() const {
  std::lock_guard<std::mutex> l(mu_);
  return read_store_;
}

}  // namespace raftkv::server
