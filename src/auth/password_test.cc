#include "auth/password.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace raftkv::auth {
namespace {

TEST(HashPassword, isSaltedBcryptThatVerifies) {
  auto a = HashPassword("s3cret", kMinBcryptCost);
  auto b = HashPassword("s3cret", kMinBcryptCost);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->rfind("$2b$04$", 0), 0u) << *a;
  EXPECT_EQ(a->size(), 60u);
  EXPECT_NE(*a, *b) << "a fresh salt every time";
  EXPECT_EQ(a->find("s3cret"), std::string::npos);
  EXPECT_TRUE(VerifyPassword("s3cret", *a));
  EXPECT_TRUE(VerifyPassword("s3cret", *b));
  EXPECT_FALSE(VerifyPassword("s3cret ", *a));
  EXPECT_FALSE(VerifyPassword("", *a));
}

TEST(HashPassword, costIsHonouredAndBounded) {
  auto h = HashPassword("pw", 5);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->rfind("$2b$05$", 0), 0u);
  EXPECT_FALSE(HashPassword("pw", 3).ok());
  EXPECT_FALSE(HashPassword("pw", 32).ok());
}

TEST(HashPassword, nulBytesAreRefusedNotTruncated) {
  auto h = HashPassword(std::string("ab\0cd", 5), kMinBcryptCost);
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().message().find("NUL"), std::string::npos);
  auto ab = HashPassword("ab", kMinBcryptCost);
  ASSERT_TRUE(ab.ok());
  EXPECT_FALSE(VerifyPassword(std::string("ab\0cd", 5), *ab));
}

TEST(VerifyPassword, malformedHashesNeverMatch) {
  EXPECT_FALSE(VerifyPassword("pw", ""));
  EXPECT_FALSE(VerifyPassword("pw", "pw"));
  EXPECT_FALSE(VerifyPassword("pw", "$2b$04$short"));
  EXPECT_FALSE(VerifyPassword("pw", "$1$md5salt$whatever"));
}

TEST(PasswordWorkers, runJobsOffTheCallerAndRefuseBeyondTheQueue) {
  PasswordWorkers pool(1, 2);
  std::atomic<bool> release{false};
  std::atomic<int> ran{0};
  auto blocker = [&](bool stopped) {
    while (!stopped && !release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ran++;
  };
  ASSERT_TRUE(pool.Submit(blocker));  // taken by the only worker
  while (pool.queued() != 0) std::this_thread::yield();
  EXPECT_TRUE(pool.Submit([&](bool) { ran++; }));
  EXPECT_TRUE(pool.Submit([&](bool) { ran++; }));
  EXPECT_FALSE(pool.Submit([&](bool) { ran++; })) << "the queue holds at most 2";
  release = true;
  while (ran.load() < 3) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_TRUE(pool.Submit([&](bool) { ran++; }));
  while (ran.load() < 4) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

TEST(PasswordWorkers, stopCompletesQueuedJobsAsStopped) {
  PasswordWorkers pool(1, 8);
  std::atomic<bool> release{false};
  ASSERT_TRUE(pool.Submit([&](bool stopped) {
    while (!stopped && !release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }));
  while (pool.queued() != 0) std::this_thread::yield();
  int stopped_jobs = 0;
  ASSERT_TRUE(pool.Submit([&](bool stopped) { stopped_jobs += stopped ? 1 : 0; }));
  ASSERT_TRUE(pool.Submit([&](bool stopped) { stopped_jobs += stopped ? 1 : 0; }));
  std::thread stopper([&] { pool.Stop(); });
  // Release the blocker only once Stop() has taken the queue: the only worker is still inside
  // the blocker, so nothing else can empty it. Releasing earlier let the worker run the queued
  // jobs as not stopped before Stop() got the lock (a CI flake).
  while (pool.queued() != 0) std::this_thread::yield();
  release = true;
  stopper.join();
  EXPECT_EQ(stopped_jobs, 2);
  EXPECT_FALSE(pool.Submit([](bool) {}));
}

}  // namespace
}  // namespace raftkv::auth
