import NIOCore

/// A `TaskExecutor` that runs jobs on one NIO event loop.
///
/// A task that prefers it (`withTaskExecutorPreference`, `group.addTask(executorPreference:)`) runs its calls on
/// the thread of the connection they travel over: starting a call and resuming after its answer stay on that thread
/// instead of hopping between the event loop and the cooperative pool twice per call. Worth it for callers that
/// make many small calls (the load harness, fan-out services); the client works the same without it.
public final class EventLoopTaskExecutor: TaskExecutor, Sendable {
    /// The event loop jobs run on.
    public let eventLoop: any EventLoop

    /// An executor over `eventLoop`.
    public init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// Runs `job` on the event loop, after what is already queued there.
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { [self] in
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
