// The log syncs a RocksDB database makes, counted exactly: a file system over the default one
// that counts every Sync and Fsync of the database's write-ahead log files (named *.log), as
// the log writer asks for them. Counting costs a relaxed atomic add per sync. (The database's
// own stats print the count as "10K" from 10,000 syncs on, which a few seconds of grouped
// puts reach.) For the ceilings' benchmarks:
//
//   wal_sync_counter counter;
//   options.env = counter.env();  // before DB::Open; the counter outlives the database
//   ... counter.syncs() ...
#pragma once

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <atomic>
#include <memory>
#include <string>
#include <utility>

class wal_sync_counter {
 public:
  wal_sync_counter()
      : fs_(std::make_shared<counting_fs>(rocksdb::FileSystem::Default(), syncs_)),
        env_(rocksdb::NewCompositeEnv(fs_)) {}

  rocksdb::Env* env() const { return env_.get(); }
  unsigned long long syncs() const { return syncs_.load(std::memory_order_relaxed); }

 private:
  class counted_file : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    counted_file(std::unique_ptr<rocksdb::FSWritableFile> f, std::atomic<unsigned long long>& syncs)
        : FSWritableFileOwnerWrapper(std::move(f)), syncs_(syncs) {}
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
      syncs_.fetch_add(1, std::memory_order_relaxed);
      return FSWritableFileOwnerWrapper::Sync(o, d);
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
      syncs_.fetch_add(1, std::memory_order_relaxed);
      return FSWritableFileOwnerWrapper::Fsync(o, d);
    }

   private:
    std::atomic<unsigned long long>& syncs_;
  };

  class counting_fs : public rocksdb::FileSystemWrapper {
   public:
    counting_fs(const std::shared_ptr<rocksdb::FileSystem>& base,
                std::atomic<unsigned long long>& syncs)
        : FileSystemWrapper(base), syncs_(syncs) {}
    const char* Name() const override { return "WalSyncCounter"; }
    rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& o,
                                      std::unique_ptr<rocksdb::FSWritableFile>* r,
                                      rocksdb::IODebugContext* d) override {
      return count(name, FileSystemWrapper::NewWritableFile(name, o, r, d), r);
    }
    rocksdb::IOStatus ReuseWritableFile(const std::string& name, const std::string& old,
                                        const rocksdb::FileOptions& o,
                                        std::unique_ptr<rocksdb::FSWritableFile>* r,
                                        rocksdb::IODebugContext* d) override {
      return count(name, FileSystemWrapper::ReuseWritableFile(name, old, o, r, d), r);
    }

   private:
    rocksdb::IOStatus count(const std::string& name, rocksdb::IOStatus s,
                            std::unique_ptr<rocksdb::FSWritableFile>* r) {
      if (s.ok() && name.size() > 4 && name.compare(name.size() - 4, 4, ".log") == 0) {
        *r = std::make_unique<counted_file>(std::move(*r), syncs_);
      }
      return s;
    }
    std::atomic<unsigned long long>& syncs_;
  };

  std::atomic<unsigned long long> syncs_{0};
  std::shared_ptr<counting_fs> fs_;
  std::unique_ptr<rocksdb::Env> env_;
};
