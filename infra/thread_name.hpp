#pragma once

// Names the calling thread as `top -H`, `ps -L`, perf and /proc show it, so that a
// process's threads are told apart by what they do (tools/bench/cluster_profile.sh counts
// context switches by these names). At most 15 bytes; longer names are cut. Never for the
// process's main thread: its name is the process's (pidof, killall).

#include <pthread.h>

#include <string>

namespace referrald::infra {

inline void name_thread(const std::string& name) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

// name_thread() the first time the calling thread comes here: for a thread someone else made
// that runs our callbacks (the NATS client's delivery thread of one subscription).
inline void name_thread_once(const char* name) {
  thread_local bool named = false;
  if (named) return;
  name_thread(name);
  named = true;
}

}  // namespace referrald::infra
