#pragma once

// The copy-on-write test of the persistent states' parts (persistent_map's nodes): whether
// a shared pointer is the only reference to what it holds, so that changing it in place is
// seen by no one else.

#include <atomic>
#include <memory>

namespace referrald::domain {

template <class T>
bool held_alone(const std::shared_ptr<T>& p) {
#if defined(__SANITIZE_THREAD__)
  // ThreadSanitizer does not model the fence below, so it would see a change made here as
  // racing with the reads of the thread that dropped the last other reference: its builds
  // always copy (the results are the same; only the allocations differ).
  (void)p;
  return false;
#else
  if (p.use_count() != 1) return false;
  // Pairs with the release of the last other owner's reference: what it did with the
  // object happened before what is done to it here.
  std::atomic_thread_fence(std::memory_order_acquire);
  return true;
#endif
}

}  // namespace referrald::domain
