// tokenizer/piece_map.h — string -> id lookup for vocabulary pieces, tuned for BPE's hot loop.
//
// BPE asks "is this concatenation a piece?" for nearly every adjacent pair, so the lookup matters:
// open addressing with linear probing over a power-of-two table at most half full, a cheap
// multiply-xorshift hash over 8-byte words, and the full hash stored to skip most string compares.
// Keys are views into strings owned elsewhere (the model's pieces), which must outlive the map.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace tl {

class PieceMap {
 public:
  // Inserts unless present; returns false if `key` was already there.
  bool insert(std::string_view key, int id) {
    if (2 * (size_ + 1) > slots_.size()) grow();
    return place(key, hash(key), id);
  }

  // The id of `key`, or -1.
  int find(std::string_view key) const {
    if (slots_.empty()) return -1;
    const uint64_t h = hash(key);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.id < 0) return -1;
      if (s.hash == h && s.key.size() == key.size() && std::memcmp(s.key.data(), key.data(), key.size()) == 0)
        return s.id;
    }
  }

  size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t hash = 0;
    std::string_view key;
    int id = -1;  // -1: empty
  };

  static uint64_t hash(std::string_view s) {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ s.size();
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      h = (h ^ w) * 0xff51afd7ed558ccdull;
      h ^= h >> 32;
    }
    uint64_t tail = 0;
    std::memcpy(&tail, s.data() + i, s.size() - i);
    h = (h ^ tail) * 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 29);
  }

  bool place(std::string_view key, uint64_t h, int id) {
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.id < 0) {
        s = {h, key, id};
        ++size_;
        return true;
      }
      if (s.hash == h && s.key == key) return false;
    }
  }

  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 64 : old.size() * 2, Slot{});
    mask_ = slots_.size() - 1;
    size_ = 0;
    for (const Slot& s : old)
      if (s.id >= 0) place(s.key, s.hash, s.id);
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace tl
