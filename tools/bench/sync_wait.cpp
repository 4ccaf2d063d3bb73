// A stand-in for the disk's sync, loaded into a server with LD_PRELOAD by
// tools/bench/commit_wait.sh: fsync() and fdatasync() sync nothing and return success, after
// sleeping REFERRALD_BENCH_SYNC_WAIT_US microseconds (0 or unset: at once; the thread's timer
// slack set to 1 ns first, so that the sleep is as long as asked). It takes the disk's work
// and the sync's own CPU out of a write and leaves, or not, the wait. Nothing written is
// durable while it is loaded: a benchmark's tool only.

#include <sys/prctl.h>
#include <time.h>

#include <cerrno>
#include <cstdlib>

namespace {

long wait_ns() {
  static const long ns = [] {
    const char* us = std::getenv("REFERRALD_BENCH_SYNC_WAIT_US");
    return us != nullptr ? std::atol(us) * 1000 : 0L;
  }();
  return ns;
}

int no_sync() {
  long ns = wait_ns();
  if (ns <= 0) return 0;
  thread_local bool exact = prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL) == 0;
  (void)exact;
  timespec left{ns / 1000000000L, ns % 1000000000L};
  while (nanosleep(&left, &left) != 0 && errno == EINTR) {
  }
  return 0;
}

}  // namespace

extern "C" int fsync(int) { return no_sync(); }
extern "C" int fdatasync(int) { return no_sync(); }
