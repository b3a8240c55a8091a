#include "auth/password.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>

#include <cstring>
#include <memory>

#include "common/check.h"

namespace raftkv::auth {
namespace {
constexpr char kPrefix[] = "$2b$";
constexpr int kSaltBytes = 16;  // bcrypt's salt is 128 bits
}  // namespace

Secret MakeSecret(std::string password) {
  return Secret(new std::string(std::move(password)), [](const std::string* p) {
    auto* s = const_cast<std::string*>(p);
    OPENSSL_cleanse(s->data(), s->size());
    delete s;
  });
}

Result<std::string> HashPassword(std::string_view password, int cost) {
  if (cost < kMinBcryptCost || cost > kMaxBcryptCost) {
    return Status::InvalidArgument("bcrypt cost must be in [4, 31]");
  }
  if (password.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("raftkv: a password may not contain a NUL byte");
  }
  unsigned char rnd[kSaltBytes];
  RAFTKV_CHECK(RAND_bytes(rnd, sizeof(rnd)) == 1, "the CSPRNG gives random bytes");
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  if (crypt_gensalt_rn(kPrefix, static_cast<unsigned long>(cost), reinterpret_cast<char*>(rnd),
                       sizeof(rnd), setting, sizeof(setting)) == nullptr) {
    return Status::IOError(std::string("crypt_gensalt_rn: ") + std::strerror(errno));
  }
  // crypt_data is ~32 KiB: on the heap, not on a worker's stack.
  auto data = std::make_unique<crypt_data>();
  std::string pw(password);
  const char* out = crypt_rn(pw.c_str(), setting, data.get(), sizeof(crypt_data));
  OPENSSL_cleanse(pw.data(), pw.size());
  if (out == nullptr || out[0] == '*') {
    OPENSSL_cleanse(data.get(), sizeof(crypt_data));
    return Status::IOError("crypt_rn failed");
  }
  std::string hash(out);
  OPENSSL_cleanse(data.get(), sizeof(crypt_data));
  return hash;
}

bool VerifyPassword(std::string_view password, const std::string& hash) {
  if (hash.compare(0, 4, kPrefix) != 0 || password.find('\0') != std::string_view::npos) {
    return false;
  }
  auto data = std::make_unique<crypt_data>();
  std::string pw(password);
  // The stored hash is its own setting (algorithm, cost, salt).
  const char* out = crypt_rn(pw.c_str(), hash.c_str(), data.get(), sizeof(crypt_data));
  OPENSSL_cleanse(pw.data(), pw.size());
  bool ok = out != nullptr && out[0] != '*' && std::strlen(out) == hash.size() &&
            CRYPTO_memcmp(out, hash.data(), hash.size()) == 0;
  OPENSSL_cleanse(data.get(), sizeof(crypt_data));
  return ok;
}

PasswordWorkers::PasswordWorkers(int threads, size_t max_queued) : max_queued_(max_queued) {
  for (int i = 0; i < threads; i++) {
    threads_.emplace_back([this] { Run(); });
    pthread_setname_np(threads_.back().native_handle(), "raftkv-passwd");
  }
}

PasswordWorkers::~PasswordWorkers() {
  Stop();
}

bool PasswordWorkers::Submit(Job job) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_ || queue_.size() >= max_queued_) return false;
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

void PasswordWorkers::Stop() {
  std::deque<Job> dropped;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_) return;
    stopping_ = true;
    dropped.swap(queue_);
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  for (auto& job : dropped) job(true);
}

size_t PasswordWorkers::queued() const {
  std::lock_guard<std::mutex> l(mu_);
  return queue_.size();
}

void PasswordWorkers::Run() {
  while (true) {
    Job job;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job(false);
  }
}

}  // namespace raftkv::auth
