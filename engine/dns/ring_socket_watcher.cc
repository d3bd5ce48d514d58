// One-shot poll requests, re-armed after each readiness while c-ares still wants the socket.
#include "engine/dns/ring_socket_watcher.h"

#include <poll.h>

#include "engine/assert.h"

namespace hayate::dns {

class RingSocketWatcher::Poll final : public IoTarget {
 public:
  Poll(RingSocketWatcher& owner, int fd) : owner_(owner), fd_(fd) {}
  void on_completion(std::uint8_t, const io_uring_cqe& cqe) override {
    armed_ = false;
    if (!wanted_) {  // c-ares let go of this socket while the poll was pending
      delete this;
      return;
    }
    if (cqe.res > 0 && owner_.resolver_ != nullptr) {
      const bool readable = (cqe.res & (POLLIN | POLLERR | POLLHUP)) != 0;
      const bool writable = (cqe.res & POLLOUT) != 0;
      in_callback_ = true;
      owner_.resolver_->on_socket_ready(fd_, readable, writable);  // may change wanted_
      in_callback_ = false;
    }
    if (!wanted_) {
      delete this;
      return;
    }
    owner_.arm(*this);
  }
  RingSocketWatcher& owner_;
  const int fd_;
  bool readable_ = false;
  bool writable_ = false;
  bool wanted_ = true;
  bool armed_ = false;
  bool in_callback_ = false;  // on_completion will decide whether this object lives on
};

RingSocketWatcher::~RingSocketWatcher() {
  // Polls still armed are cancelled when their sockets close with the resolver; their
  // completions arrive while the shard drains at exit and free them.
  for (auto& [fd, poll] : polls_) {
    poll->wanted_ = false;
    if (!poll->armed_) delete poll;
  }
}

void RingSocketWatcher::arm(Poll& poll) {
  HAYATE_ASSERT(!poll.armed_);
  unsigned mask = (poll.readable_ ? POLLIN : 0u) | (poll.writable_ ? POLLOUT : 0u);
  io_uring_sqe* sqe = shard_.ring().sqe();
  io_uring_prep_poll_add(sqe, poll.fd_, mask);
  io_uring_sqe_set_data64(sqe, io_tag(&poll, 0));
  poll.armed_ = true;
}

void RingSocketWatcher::watch_socket(int fd, bool readable, bool writable) {
  auto found = polls_.find(fd);
  if (!readable && !writable) {
    if (found == polls_.end()) return;
    Poll* poll = found->second;
    polls_.erase(found);
    poll->wanted_ = false;
    if (poll->in_callback_) {
      // on_completion deletes it after the resolver returns
    } else if (poll->armed_) {
      io_uring_sqe* sqe = shard_.ring().sqe();
      io_uring_prep_poll_remove(sqe, io_tag(poll, 0));
      io_uring_sqe_set_data64(sqe, 0);
    } else {
      delete poll;
    }
    return;
  }
  Poll* poll;
  if (found == polls_.end()) {
    poll = new Poll(*this, fd);
    polls_.emplace(fd, poll);
  } else {
    poll = found->second;
  }
  const bool changed = poll->readable_ != readable || poll->writable_ != writable;
  poll->readable_ = readable;
  poll->writable_ = writable;
  if (poll->in_callback_) {
    // on_completion re-arms with the new interest after the resolver returns
  } else if (!poll->armed_) {
    arm(*poll);
  } else if (changed) {
    io_uring_sqe* sqe = shard_.ring().sqe();
    io_uring_prep_poll_update(sqe, io_tag(poll, 0), io_tag(poll, 0),
                              (readable ? POLLIN : 0u) | (writable ? POLLOUT : 0u),
                              IORING_POLL_UPDATE_EVENTS);
    io_uring_sqe_set_data64(sqe, 0);
  }
}

}  // namespace hayate::dns
