#include "k8s/spam_filter.h"

#include <algorithm>

namespace initwatch::k8s {

bool SpamFilter::allow(const std::string& object, Clock::time_point now) {
    auto it = buckets_.find(object);
    if (it == buckets_.end()) {
        if (buckets_.size() >= max_objects_ && !lru_.empty()) {
            buckets_.erase(lru_.front());
            lru_.pop_front();
        }
        lru_.push_back(object);
        it = buckets_.emplace(object, Bucket{burst_, now, std::prev(lru_.end())}).first;
    } else {
        lru_.splice(lru_.end(), lru_, it->second.lru);
        if (now > it->second.refilled) {
            const double earned = std::chrono::duration<double>(now - it->second.refilled) /
                                  std::chrono::duration<double>(refill_);
            it->second.tokens = std::min(burst_, it->second.tokens + earned);
            it->second.refilled = now;
        }
    }
    if (it->second.tokens < 1) return false;
    it->second.tokens -= 1;
    return true;
}

}  // namespace initwatch::k8s
