#pragma once

// An immutable ordered map with structural sharing (a persistent AVL tree). Updates
// return a new map that shares every untouched node with the old one: O(log n) new nodes
// per insert or erase, O(1) to copy. Used for rule state so that an actor can publish
// a snapshot of its state to readers on other threads without copying it.
//
// Thread-safety: a node shared by two maps is never modified; any number of threads may
// read the same map (or maps sharing nodes) concurrently. Distinct map objects may be
// assigned on different threads freely. `put` updates in place the nodes that only this
// map holds (a fold of many events into a private copy copies each path once, not once
// per event); like assigning to any object, it needs the map not to be read meanwhile.
//
// A write makes, and a later one frees, O(log n) nodes per map, so a node is one small
// allocation: it carries its own reference count (no control block, no weak count), and a
// string key's bytes follow the node in the same block. An entity's node (id -> entity_ref)
// takes 56 bytes, a domain's (22 bytes -> id) 70, where a std::shared_ptr node took 88
// and 104 plus the string's own block.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <iterator>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace referrald::domain {

template <class K, class V, class Compare = std::less<>>
class persistent_map {
  struct node;

  // A counted reference to a node. The count lives in the node (one allocation per node, no
  // control block, no weak count): copying a reference adds one, dropping the last one
  // deletes the node and so drops its children's.
  class ptr {
   public:
    ptr() = default;
    ptr(std::nullptr_t) {}            // a null reference, as nullptr converts to one
    explicit ptr(node* n) : n_(n) {}  // takes the node's first reference
    ptr(const ptr& o) : n_(o.n_) {
      if (n_ != nullptr) n_->refs.fetch_add(1, std::memory_order_relaxed);
    }
    ptr(ptr&& o) noexcept : n_(std::exchange(o.n_, nullptr)) {}
    ptr& operator=(ptr o) noexcept {
      std::swap(n_, o.n_);
      return *this;
    }
    ~ptr() {
      // The release pairs with held_alone()'s acquire and with the deleting thread's.
      if (n_ != nullptr && n_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete_node(n_);
    }
    const node* get() const { return n_; }
    const node& operator*() const { return *n_; }
    const node* operator->() const { return n_; }
    explicit operator bool() const { return n_ != nullptr; }

    // True when this is the node's only reference, so that changing the node in place is
    // seen by no one else; the acquire pairs with the release of the last other owner's
    // reference (what it did to the node happened before what is done to it here).
    bool held_alone() const { return n_->refs.load(std::memory_order_acquire) == 1; }
    node& mutable_node() const { return *n_; }  // only when held_alone()

   private:
    node* n_ = nullptr;
  };

  // A node's key: a K member, or for string keys the key's bytes right after the node in
  // its own allocation (a path copy then copies one block, not a node and a string).
  static constexpr bool inline_key = std::is_same_v<K, std::string>;
  using key_view = std::conditional_t<inline_key, std::string_view, const K&>;

  template <bool Inline, class Unused = void>
  struct key_store {
    explicit key_store(const K& k) : stored_key(k) {}
    K stored_key;
  };
  template <class Unused>
  struct key_store<true, Unused> {
    explicit key_store(std::string_view k) : key_size(k.size()) {}
    std::size_t key_size;
  };

  struct node : key_store<inline_key> {
    node(key_view k, V v, ptr l, ptr r)
        : key_store<inline_key>(k), value(std::move(v)), left(std::move(l)), right(std::move(r)) {
      if constexpr (inline_key) {
        if (!k.empty()) std::memcpy(reinterpret_cast<char*>(this + 1), k.data(), k.size());
      }
    }
    key_view key() const {
      if constexpr (inline_key) {
        return {reinterpret_cast<const char*>(this + 1), this->key_size};
      } else {
        return this->stored_key;
      }
    }
    mutable std::atomic<std::uint32_t> refs{1};
    int height = 1;
    std::size_t size = 1;
    V value;
    ptr left;
    ptr right;
  };

  static node* new_node(key_view k, V v, ptr l, ptr r) {
    if constexpr (inline_key) {
      static_assert(std::is_nothrow_move_constructible_v<V>, "a node made in place cannot throw");
      void* at = ::operator new(sizeof(node) + k.size());
      return new (at) node(k, std::move(v), std::move(l), std::move(r));
    } else {
      return new node(k, std::move(v), std::move(l), std::move(r));
    }
  }
  static void delete_node(node* n) {
    if constexpr (inline_key) {
#if defined(__cpp_sized_deallocation)
      const std::size_t bytes = sizeof(node) + n->key_size;
      n->~node();
      ::operator delete(n, bytes);
#else  // clang before 19 leaves sized deallocation off unless asked
      n->~node();
      ::operator delete(n);
#endif
    } else {
      delete n;
    }
  }

 public:
  persistent_map() = default;

  std::size_t size() const { return root_ ? root_->size : 0; }
  bool empty() const { return !root_; }

  // The value for `key`, or nullptr.
  template <class Q>
  const V* find(const Q& key) const {
    const node* n = root_.get();
    while (n != nullptr) {
      const int c = order(key, n->key());
      if (c == 0) return &n->value;
      n = c < 0 ? n->left.get() : n->right.get();
    }
    return nullptr;
  }

  // A map with `key` set to `value` (inserted or replaced).
  [[nodiscard]] persistent_map set(key_view key, V value) const {
    return persistent_map(insert(root_, key, std::move(value)));
  }

  // Sets `key` to `value` in this map: nodes held by this map alone are updated in place,
  // shared ones are copied (so other maps never see the change). Invalidates pointers
  // and iterators into this map.
  void put(key_view key, V value) { root_ = insert_owned(std::move(root_), key, value); }

  // A map without `key` (the same map when it is absent).
  template <class Q>
  [[nodiscard]] persistent_map erase(const Q& key) const {
    bool found = false;
    ptr r = remove(root_, key, found);
    return found ? persistent_map(std::move(r)) : *this;
  }

  // In-order iteration (a string key is seen as a std::string_view).
  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = std::pair<key_view, const V&>;
    using difference_type = std::ptrdiff_t;

    const_iterator() = default;
    explicit const_iterator(const node* root) { descend(root); }

    std::pair<key_view, const V&> operator*() const {
      return {stack_.back()->key(), stack_.back()->value};
    }
    const_iterator& operator++() {
      const node* n = stack_.back();
      stack_.pop_back();
      descend(n->right.get());
      return *this;
    }
    bool operator==(const const_iterator& o) const { return stack_ == o.stack_; }

   private:
    friend class persistent_map;
    void descend(const node* n) {
      while (n != nullptr) {
        stack_.push_back(n);
        n = n->left.get();
      }
    }
    std::vector<const node*> stack_;
  };

  const_iterator begin() const { return const_iterator(root_.get()); }
  const_iterator end() const { return const_iterator(); }

  // The first entry whose key is greater than `key` (end() when none): O(log n).
  template <class Q>
  const_iterator upper_bound(const Q& key) const {
    const_iterator it;
    for (const node* n = root_.get(); n != nullptr;) {
      if (Compare{}(key, n->key())) {
        it.stack_.push_back(n);
        n = n->left.get();
      } else {
        n = n->right.get();
      }
    }
    return it;
  }

  friend bool operator==(const persistent_map& a, const persistent_map& b) {
    if (a.size() != b.size()) return false;
    auto i = a.begin();
    auto j = b.begin();
    for (; i != a.end(); ++i, ++j) {
      auto [ka, va] = *i;
      auto [kb, vb] = *j;
      if (Compare{}(ka, kb) || Compare{}(kb, ka) || !(va == vb)) return false;
    }
    return true;
  }

  // Checks the AVL invariants and sizes (tests).
  bool valid() const { return check(root_.get()) >= 0; }

 private:
  explicit persistent_map(ptr root) : root_(std::move(root)) {}

  // Where `key` stands against a node's key: negative before it, 0 the same, positive after.
  // String keys take one three-way comparison, other keys Compare's one or two.
  template <class Q>
  static int order(const Q& key, key_view at) {
    if constexpr (std::is_same_v<Compare, std::less<>> && inline_key &&
                  std::is_convertible_v<const Q&, std::string_view>) {
      return std::string_view(key).compare(at);
    } else {
      if (Compare{}(key, at)) return -1;
      return Compare{}(at, key) ? 1 : 0;
    }
  }

  static int height(const ptr& n) { return n ? n->height : 0; }
  static std::size_t count(const ptr& n) { return n ? n->size : 0; }

  static ptr make(key_view key, V value, ptr left, ptr right) {
    node* n = new_node(key, std::move(value), std::move(left), std::move(right));
    n->height = 1 + std::max(height(n->left), height(n->right));
    n->size = 1 + count(n->left) + count(n->right);
    return ptr(n);
  }

  static ptr rotate_right(const ptr& n) {
    const node& l = *n->left;
    return make(l.key(), l.value, l.left, make(n->key(), n->value, l.right, n->right));
  }

  static ptr rotate_left(const ptr& n) {
    const node& r = *n->right;
    return make(r.key(), r.value, make(n->key(), n->value, n->left, r.left), r.right);
  }

  static ptr balance(key_view key, V value, ptr left, ptr right) {
    int diff = height(left) - height(right);
    if (diff > 1) {
      if (height(left->left) < height(left->right)) left = rotate_left(left);
      return rotate_right(make(key, std::move(value), std::move(left), std::move(right)));
    }
    if (diff < -1) {
      if (height(right->right) < height(right->left)) right = rotate_right(right);
      return rotate_left(make(key, std::move(value), std::move(left), std::move(right)));
    }
    return make(key, std::move(value), std::move(left), std::move(right));
  }

  static ptr insert(const ptr& n, key_view key, V value) {
    if (!n) return make(key, std::move(value), nullptr, nullptr);
    const int c = order(key, n->key());
    if (c < 0) {
      return balance(n->key(), n->value, insert(n->left, key, std::move(value)), n->right);
    }
    if (c > 0) {
      return balance(n->key(), n->value, n->left, insert(n->right, key, std::move(value)));
    }
    return make(n->key(), std::move(value), n->left, n->right);
  }

  // insert() for a subtree that `n` may hold alone: such nodes are changed in place; the
  // first shared one is copied with everything above it, as insert() does.
  static ptr insert_owned(ptr n, key_view key, V& value) {
    if (!n) return make(key, std::move(value), nullptr, nullptr);
    if (!n.held_alone()) return insert(n, key, std::move(value));
    node& m = n.mutable_node();
    const int c = order(key, m.key());
    if (c < 0) {
      m.left = insert_owned(std::move(m.left), key, value);
    } else if (c > 0) {
      m.right = insert_owned(std::move(m.right), key, value);
    } else {
      m.value = std::move(value);
      return n;
    }
    int diff = height(m.left) - height(m.right);
    if (diff > 1 || diff < -1) return balance(m.key(), std::move(m.value), m.left, m.right);
    m.height = 1 + std::max(height(m.left), height(m.right));
    m.size = 1 + count(m.left) + count(m.right);
    return n;
  }

  static const node* leftmost(const node* n) {
    while (n->left)
      n = n->left.get();
    return n;
  }

  static ptr remove_leftmost(const ptr& n) {
    if (!n->left) return n->right;
    return balance(n->key(), n->value, remove_leftmost(n->left), n->right);
  }

  template <class Q>
  static ptr remove(const ptr& n, const Q& key, bool& found) {
    if (!n) return n;
    const int c = order(key, n->key());
    if (c < 0) {
      ptr l = remove(n->left, key, found);
      return found ? balance(n->key(), n->value, std::move(l), n->right) : n;
    }
    if (c > 0) {
      ptr r = remove(n->right, key, found);
      return found ? balance(n->key(), n->value, n->left, std::move(r)) : n;
    }
    found = true;
    if (!n->left) return n->right;
    if (!n->right) return n->left;
    const node* m = leftmost(n->right.get());
    return balance(m->key(), m->value, n->left, remove_leftmost(n->right));
  }

  // Height when valid, -1 otherwise.
  static int check(const node* n) {
    if (n == nullptr) return 0;
    int l = check(n->left.get());
    int r = check(n->right.get());
    if (l < 0 || r < 0 || std::abs(l - r) > 1) return -1;
    if (n->height != 1 + std::max(l, r)) return -1;
    if (n->size != 1 + count(n->left) + count(n->right)) return -1;
    if (n->left && !Compare{}(n->left->key(), n->key())) return -1;
    if (n->right && !Compare{}(n->key(), n->right->key())) return -1;
    return n->height;
  }

  ptr root_;
};

}  // namespace referrald::domain
