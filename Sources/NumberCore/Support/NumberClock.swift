import Foundation
import Synchronization

/// The source of "now" for everything that depends on time (billing, proration, expiry), injected so tests can
/// cross months and years without waiting.
public protocol NumberClock: Sendable {
    /// The current time.
    func now() -> Date

    /// How far the wall clock is ahead of the time this clock gives, when this clock runs behind it (numberd's clock
    /// ignores a wall clock that stepped forward too far until a restart); 0 otherwise. Times other systems stamp
    /// (the provider's creation date of a number) are compared with this clock's allowing for it.
    var behindWallClockSeconds: TimeInterval { get }

    /// How far the time this clock gives is ahead of the wall clock, when it is (numberd's clock holds at its data's
    /// latest time when it starts behind it, and follows the boot clock through a step back); 0 otherwise. The
    /// provider's dates run that much behind this clock's.
    var aheadOfWallClockSeconds: TimeInterval { get }
}

extension NumberClock {
    /// In step with the wall clock.
    public var behindWallClockSeconds: TimeInterval { 0 }
    /// In step with the wall clock.
    public var aheadOfWallClockSeconds: TimeInterval { 0 }
}

/// The wall clock.
public struct SystemClock: NumberClock {
    /// Creates the wall clock.
    public init() {}

    /// `Date()`.
    public func now() -> Date { Date() }
}

/// A clock that only moves when told to; for tests and simulations.
public final class ManualClock: NumberClock {
    private let current: Mutex<Date>
    private let behind = Mutex<TimeInterval>(0)
    private let ahead = Mutex<TimeInterval>(0)

    /// Creates a clock showing `start`.
    public init(_ start: Date) {
        self.current = Mutex(start)
    }

    /// The time the clock shows.
    public func now() -> Date {
        current.withLock { $0 }
    }

    /// Moves the clock forward (or back, for skew tests) by `seconds`.
    public func advance(by seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }

    /// How far the wall clock it stands for is ahead of it (a test of a clock that ignored a forward step).
    public var behindWallClockSeconds: TimeInterval {
        get { behind.withLock { $0 } }
        set { behind.withLock { $0 = newValue } }
    }

    /// How far it is ahead of the wall clock it stands for (a test of a clock that held through a backward step).
    public var aheadOfWallClockSeconds: TimeInterval {
        get { ahead.withLock { $0 } }
        set { ahead.withLock { $0 = newValue } }
    }

    /// Sets the clock to `date`.
    public func set(_ date: Date) {
        current.withLock { $0 = date }
    }
}
