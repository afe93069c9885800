// The asynchronous next() of the Asio adapters, written once for both Asios.
//
// No include guard, on purpose: <memlog/asio.hpp> (Boost.Asio) and
// <memlog/asio_standalone.hpp> (Asio) each include this file once, inside a
// namespace of their own, after including every header it needs and
// declaring there:
//   namespace net = <the Asio>;
//   using error_code = <the Asio's error_code>;
//   error_code to_error_code(const std::error_code&);   // a memlog error
//   auto cancellation_slot_of(const Handler&);           // its slot, or detail::NoCancellationSlot
//
// Design. An operation (NextOp) is allocated with the handler's allocator and
// owned, at any time, by exactly one of:
//   - a continuation (Resume) posted to the handler's executor: running it
//     calls try_next() and completes, or arms the operation again;
//   - the log, while the operation is armed (an AsyncWaiter);
//   - whoever takes it out of the log: the write or close() that completes
//     the waiter, a cancellation that disarms it (the stream's stop_token,
//     the handler's cancellation slot), or the execution context's shutdown.
// Whoever takes it out hands it to the executor (posts a Resume), which is
// the only work done on a writer's thread; nothing else touches an operation
// it does not own. One exception needs a state word: between arming and
// returning, the thread that armed still looks at the operation (has a stop
// come meanwhile?); a completion that comes in that window leaves the
// hand-off to it.
//
// Shutdown. An armed operation holds the handler, and work on its executor;
// if the execution context is destroyed first, a later write would post to
// a dead context. So each context has a NextService that knows its armed
// operations: its shutdown() (the first thing ~io_context does) disarms and
// destroys them, as Asio's own services destroy their pending operations,
// and from then on a hand-off leaves the operation to it instead of posting.
// A continuation already posted is destroyed with the context's queue.

class NextCanceller;

namespace detail {

class NextService;
template <class T, class Handler>
class NextOp;

// The part of an operation that the service and the hand-off see.
class NextOpBase : public AsyncWaiter {
 public:
  NextOpBase(const NextOpBase&) = delete;
  NextOpBase& operator=(const NextOpBase&) = delete;

  // Per-operation cancellation (the handler's slot, or a NextCanceller): the
  // operation completes with operation_aborted unless it has consumed its
  // record already. Any type of cancellation (terminal, partial, total) is
  // honoured: a cancelled operation has consumed nothing.
  void cancel() noexcept {
    // release: the continuation's acquire load sees it.
    aborted_.store(true, std::memory_order_release);
    if (disarm()) release();
  }

 protected:
  NextOpBase() noexcept : AsyncWaiter(&on_ready) {}
  ~NextOpBase() = default;

  // Who owns the operation between arming and its hand-off.
  enum class State : unsigned char {
    idle,     // not armed: a continuation, or the thread running it, owns it
    arming,   // armed, and the arming thread is still looking at it
    armed,    // armed: whoever takes it out of the log owns it
    handed,   // taken out of the log while arming: the arming thread goes on
  };

  // Called by whoever took the operation out of the log (the write that
  // completed its waiter, or a successful cancel_wait()): hands it to its
  // executor, unless the arming thread is still on it.
  void release() noexcept;

  // Posts the continuation to the handler's executor. Called by the service
  // under its mutex.
  virtual void post() = 0;
  // Stream::cancel_wait() for this operation.
  virtual bool disarm() noexcept = 0;
  // Destroys and frees the operation without calling its handler.
  virtual void destroy() noexcept = 0;

  NextService* service_ = nullptr;  // set before the first arming, then constant
  std::atomic<bool> aborted_{false};  // cancel() was called
  // acq_rel on every change: ownership passes between threads through it.
  std::atomic<State> state_{State::idle};

 private:
  friend class NextService;

  // The waiter's callback, on the writer's thread (or close()'s).
  static void on_ready(AsyncWaiter& waiter) noexcept { static_cast<NextOpBase&>(waiter).release(); }

  // The service's list of armed operations; guarded by the service's mutex.
  NextOpBase* prev_ = nullptr;
  NextOpBase* next_ = nullptr;
  bool linked_ = false;
  bool orphaned_ = false;  // released during shutdown: the shutdown destroys it
};

// One per execution context: destroys the operations still armed when the
// context shuts down, so that nothing outlives the context.
class NextService final : public net::execution_context::service {
 public:
  inline static net::execution_context::id id;

  explicit NextService(net::execution_context& context) : net::execution_context::service(context) {}
  NextService(const NextService&) = delete;
  NextService& operator=(const NextService&) = delete;
  ~NextService() override { assert(head_ == nullptr); }

  // Before arming: from here on, shutdown() can find the operation.
  void link(NextOpBase& op) {
    const std::lock_guard lock(mu_);
    assert(!shutting_down_ && "memlog: async_next running while its execution context shuts down");
    push(op);
  }

  // When arming found the record there, or took the operation back.
  void unlink(NextOpBase& op) noexcept {
    const std::lock_guard lock(mu_);
    remove(op);
  }

  // Posts an operation taken out of the log to its executor; during or after
  // the shutdown, leaves it to shutdown() instead. Posting under the mutex
  // means the continuation is in the context's queue before shutdown()
  // begins, and the context's queue destroys what it still holds. A post that
  // cannot allocate terminates: this runs on a writer's thread, which has
  // nobody to report to.
  void hand_off(NextOpBase& op) noexcept {
    const std::lock_guard lock(mu_);
    if (shutting_down_) {
      op.orphaned_ = true;
      changed_.notify_all();
      return;
    }
    remove(op);
    op.post();
  }

 private:
  void shutdown() override {
    NextOpBase* doomed = nullptr;
    {
      std::unique_lock lock(mu_);
      shutting_down_ = true;
      // Each linked operation is armed (disarm it), or was released during
      // the shutdown (orphaned), or is being released right now: its
      // hand_off() waits for the mutex and will orphan it.
      while (head_ != nullptr) {
        bool progress = false;
        for (NextOpBase* op = head_; op != nullptr;) {
          NextOpBase* const following = op->next_;
          if (op->orphaned_ || op->disarm()) {
            remove(*op);
            op->next_ = doomed;
            doomed = op;
            progress = true;
          }
          op = following;
        }
        if (!progress) changed_.wait(lock);
      }
    }
    // Outside the mutex: destroying an operation waits for a stop callback
    // that may be running, and that callback may be about to take the mutex.
    while (doomed != nullptr) {
      NextOpBase* const following = doomed->next_;
      doomed->destroy();
      doomed = following;
    }
  }

  void push(NextOpBase& op) noexcept {
    assert(!op.linked_);
    op.prev_ = nullptr;
    op.next_ = head_;
    if (head_ != nullptr) head_->prev_ = &op;
    head_ = &op;
    op.linked_ = true;
  }

  void remove(NextOpBase& op) noexcept {
    if (!op.linked_) return;
    if (op.prev_ != nullptr) op.prev_->next_ = op.next_; else head_ = op.next_;
    if (op.next_ != nullptr) op.next_->prev_ = op.prev_;
    op.prev_ = op.next_ = nullptr;
    op.linked_ = false;
  }

  std::mutex mu_;
  std::condition_variable changed_;  // an operation was orphaned
  NextOpBase* head_ = nullptr;
  bool shutting_down_ = false;
};

inline void NextOpBase::release() noexcept {
  // acq_rel: acquires what the arming thread wrote before arming; releases
  // to the arming thread, when it still holds the operation, what the
  // releasing thread did.
  if (state_.exchange(State::handed, std::memory_order_acq_rel) == State::armed) service_->hand_off(*this);
}

}  // namespace detail

// Explicit per-operation cancellation, for an Asio without cancellation
// slots (Boost before 1.77) or a caller with no slot to bind: pass it to
// async_next(stream, canceller, token), and cancel() makes that operation
// complete with operation_aborted, the stream staying where it was, unless
// it has consumed its record already. cancel() may be called from any
// thread, any number of times, and does nothing while no operation is
// attached. One operation at a time; the canceller must outlive it, and may
// then serve the next one.
class NextCanceller {
 public:
  NextCanceller() = default;
  NextCanceller(const NextCanceller&) = delete;
  NextCanceller& operator=(const NextCanceller&) = delete;
  ~NextCanceller() { assert(op_ == nullptr && "memlog: NextCanceller destroyed before its async_next completed"); }

  void cancel() noexcept {
    // Under the mutex: the operation cannot be freed meanwhile (detach()).
    const std::lock_guard lock(mu_);
    if (op_ != nullptr) op_->cancel();
  }

 private:
  template <class, class>
  friend class detail::NextOp;

  void attach(detail::NextOpBase& op) noexcept {
    const std::lock_guard lock(mu_);
    assert(op_ == nullptr && "memlog: one NextCanceller given to two outstanding async_next");
    op_ = &op;
  }

  void detach() noexcept {
    const std::lock_guard lock(mu_);
    op_ = nullptr;
  }

  std::mutex mu_;
  detail::NextOpBase* op_ = nullptr;
};

namespace detail {

// The execution context of an executor: its execution::context property,
// or (a Networking TS style executor, or use_future's) its context().
template <class Executor>
net::execution_context& context_of(const Executor& executor) {
  if constexpr (net::can_query<const Executor&, net::execution::context_t>::value) {
    return net::query(executor, net::execution::context);
  } else {
    return executor.context();
  }
}

// An executor that counts as outstanding work while this object lives: the
// context's run() does not return while an operation waits.
template <class Executor, bool Standard = net::execution::is_executor<Executor>::value>
class TrackedWork {
 public:
  explicit TrackedWork(const Executor& executor)
      : executor_(net::prefer(executor, net::execution::outstanding_work.tracked)) {}

 private:
  decltype(net::prefer(std::declval<const Executor&>(), net::execution::outstanding_work.tracked)) executor_;
};

template <class Executor>
class TrackedWork<Executor, false> {
 public:
  explicit TrackedWork(const Executor& executor) : guard_(executor) {}

 private:
  net::executor_work_guard<Executor> guard_;
};

template <class T, class Handler>
class NextOp final : public NextOpBase {
 public:
  using Executor = net::associated_executor_t<Handler>;
  using HandlerAllocator = net::associated_allocator_t<Handler>;
  using Allocator = typename std::allocator_traits<HandlerAllocator>::template rebind_alloc<NextOp>;
  using Traits = std::allocator_traits<Allocator>;

  // The initiation: allocates the operation and posts its first step.
  static void start(Handler handler, Stream<T>& stream, NextCanceller* canceller) {
    Allocator allocator(net::get_associated_allocator(handler));
    NextOp* op = Traits::allocate(allocator, 1);
    try {
      ::new (static_cast<void*>(op)) NextOp(std::move(handler), stream);
    } catch (...) {
      Traits::deallocate(allocator, op, 1);
      throw;
    }
    try {
      ::memlog::detail::OutstandingNexts::enter(&stream);
    } catch (...) {
      op->free(allocator, false);
      throw;
    }
    try {
      if (op->slot_.is_connected()) op->slot_.template emplace<OnCancel>(op);
    } catch (...) {
      op->free(allocator, true);
      throw;
    }
    if (canceller != nullptr) {
      op->canceller_ = canceller;
      canceller->attach(*op);
    }
    // Even when the record is there: the handler never runs inside the
    // initiating call. If the post throws, the Resume destroys the operation.
    net::post(net::get_associated_executor(op->handler_), Resume(op));
  }

 private:
  NextOp(Handler handler, Stream<T>& stream)
      : stream_(&stream),
        handler_(std::move(handler)),
        work_(net::get_associated_executor(handler_)),
        slot_(cancellation_slot_of(handler_)) {}

  ~NextOp() = default;

  // The continuation, on the handler's executor. Owns the operation: one
  // destroyed without having run (its context shut down) destroys it.
  class Resume {
   public:
    using allocator_type = HandlerAllocator;

    explicit Resume(NextOp* op) noexcept : op_(op), allocator_(net::get_associated_allocator(op->handler_)) {}
    Resume(Resume&& other) noexcept : op_(std::exchange(other.op_, nullptr)), allocator_(other.allocator_) {}
    Resume(const Resume&) = delete;
    Resume& operator=(const Resume&) = delete;
    Resume& operator=(Resume&&) = delete;
    ~Resume() {
      if (op_ != nullptr) op_->destroy();
    }

    [[nodiscard]] allocator_type get_allocator() const noexcept { return allocator_; }

    void operator()() { std::exchange(op_, nullptr)->run(); }

   private:
    NextOp* op_;
    HandlerAllocator allocator_;
  };

  // Calls Stream::cancel_wait when the stream's stop_token is triggered, on
  // the thread that triggers it.
  struct OnStop {
    explicit OnStop(NextOp* stopped) noexcept : op(stopped) {}
    NextOp* op;
    void operator()() const noexcept {
      if (op->stream_->cancel_wait(*op)) op->release();
    }
  };

  // Installed in the handler's cancellation slot.
  struct OnCancel {
    explicit OnCancel(NextOp* cancelled) noexcept : op(cancelled) {}
    NextOp* op;
    template <class Type>
    void operator()(Type type) const noexcept {
      if (type != Type{}) op->cancel();  // Type{}: cancellation_type::none
    }
  };

  void run() {
    // If try_next() or arm() throws (copying a record, or allocating the
    // log's first waiter), the operation ends without calling its handler
    // and the exception leaves the executor's run(), as any exception of a
    // handler does; the stream stays where it was.
    struct DestroyOnThrow {
      NextOp* op;
      ~DestroyOnThrow() {
        if (op != nullptr) op->destroy();
      }
    } guard{this};
    while (true) {
      // acquire: pairs with the release in OnCancel.
      if (aborted_.load(std::memory_order_acquire)) {
        guard.op = nullptr;
        return complete(error_code(net::error::operation_aborted), Record<T>{});
      }
      Result<Record<T>> next = stream_->try_next();
      if (next) {
        guard.op = nullptr;
        return complete(error_code{}, std::move(*next));
      }
      if (next.error() != Errc::timed_out) {
        guard.op = nullptr;
        return complete(to_error_code(next.error()), Record<T>{});
      }
      if (arm()) {
        guard.op = nullptr;
        return;
      }
    }
  }

  // Arms the operation for the record at the stream's position: true when
  // it is armed (and no longer ours), false when it is ours again (the
  // record came, or a stop or cancellation did): try again.
  bool arm() {
    if (service_ == nullptr) {
      service_ = &net::use_service<NextService>(context_of(net::get_associated_executor(handler_)));
      stop_ = stream_->get_stop_token();
      // A stop already requested runs OnStop here, which finds nothing armed.
      if (stop_.stop_possible()) on_stop_.emplace(stop_, OnStop{this});
    }
    // relaxed: nobody else looks at the state of an operation that is not armed.
    state_.store(State::arming, std::memory_order_relaxed);
    service_->link(*this);
    bool armed = false;
    try {
      armed = stream_->wait_async(*this);
    } catch (...) {
      state_.store(State::idle, std::memory_order_relaxed);
      service_->unlink(*this);
      throw;
    }
    if (armed) {
      // A stop or a cancellation that came before the waiter was armed found
      // nothing to disarm: take it back. acquire: pairs with OnCancel.
      if ((stop_.stop_requested() || aborted_.load(std::memory_order_acquire)) && stream_->cancel_wait(*this)) {
        armed = false;
      } else {
        // Armed, unless a release came in between: then it left the
        // operation to us. acq_rel: see release().
        State expected = State::arming;
        armed = state_.compare_exchange_strong(expected, State::armed, std::memory_order_acq_rel,
                                               std::memory_order_acquire);
      }
    }
    if (!armed) {
      state_.store(State::idle, std::memory_order_relaxed);
      service_->unlink(*this);
    }
    return armed;
  }

  void post() override { net::post(net::get_associated_executor(handler_), Resume(this)); }

  bool disarm() noexcept override { return stream_->cancel_wait(*this); }

  void destroy() noexcept override {
    Allocator allocator(net::get_associated_allocator(handler_));
    free(allocator, true);
  }

  // Frees the memory before calling the handler, as Asio requires (the
  // handler may start the next operation, and reuse it), and keeps the work
  // until the handler has returned.
  void complete(error_code error, Record<T> record) {
    Allocator allocator(net::get_associated_allocator(handler_));
    Handler handler(std::move(handler_));
    [[maybe_unused]] TrackedWork<Executor> work(std::move(work_));  // released after the handler
    free(allocator, true);
    std::move(handler)(error, std::move(record));
  }

  void free(Allocator& allocator, bool entered) noexcept {
    if (slot_.is_connected()) slot_.clear();
    if (canceller_ != nullptr) canceller_->detach();
    if (entered) ::memlog::detail::OutstandingNexts::leave(stream_);
    this->~NextOp();  // waits for an OnStop running on another thread
    Traits::deallocate(allocator, this, 1);
  }

  Stream<T>* stream_;
  Handler handler_;
  TrackedWork<Executor> work_;
  decltype(cancellation_slot_of(std::declval<const Handler&>())) slot_;
  NextCanceller* canceller_ = nullptr;
  std::stop_token stop_;              // the stream's, from the first arming on
  std::optional<std::stop_callback<OnStop>> on_stop_;
};

template <class T>
struct InitiateNext {
  template <class Handler>
  void operator()(Handler&& handler, Stream<T>* stream, NextCanceller* canceller) const {
    NextOp<T, std::decay_t<Handler>>::start(std::forward<Handler>(handler), *stream, canceller);
  }
};

}  // namespace detail

// Asynchronous Stream::next(): completes with the record at the stream's
// position (and moves past it), or with why there is none; see
// <memlog/asio.hpp>. Completion signature: void(error_code, Record<T>).
template <class T, class CompletionToken>
auto async_next(Stream<T>& stream, CompletionToken&& token) {
  static_assert(std::default_initializable<T>,
                "memlog: async_next completes with a Record<T>{} on errors: T must be default-constructible");
  return net::async_initiate<CompletionToken, void(error_code, Record<T>)>(
      detail::InitiateNext<T>{}, token, &stream, static_cast<NextCanceller*>(nullptr));
}

// The same, cancellable through `canceller`.
template <class T, class CompletionToken>
auto async_next(Stream<T>& stream, NextCanceller& canceller, CompletionToken&& token) {
  static_assert(std::default_initializable<T>,
                "memlog: async_next completes with a Record<T>{} on errors: T must be default-constructible");
  return net::async_initiate<CompletionToken, void(error_code, Record<T>)>(detail::InitiateNext<T>{}, token,
                                                                            &stream, &canceller);
}
