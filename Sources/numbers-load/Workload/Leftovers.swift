import NIOCore
import NumberAPI
import NumberClient
import Synchronization

/// What a run made that must not outlive it: the numbers it bought (the set-up's, recorded as each is bought),
/// purchases a failure left in doubt (a deadline, a lost connection, `OUTCOME_UNKNOWN`: numberd carries a started
/// purchase through, so the number may be owned and billed every month), releases that failed, the API keys it made and
/// its accounts. The run settles them at its end, also when it fails part-way or is interrupted
/// (``settle(client:deadline:log:)``): a doubtful purchase is asked again under its idempotency key, which answers what
/// the first attempt did (or, when numberd no longer has the key because that attempt never took effect, buys it now:
/// logged); the keys are revoked and the accounts suspended; then whatever the purchases bought is released and a
/// failed release is tried again. Each is asked again, with a growing pause, until its answer is final
/// (``verdict(on:)``) or its share of the time left runs out (``itemDeadline(_:itemsLeft:now:)``): a purchase still
/// running at numberd, a release waiting for its turn or a refusal for the moment (the account's rate limit, spent by
/// the run) is waited for, not given up after a few quick attempts, yet one that never settles (Twilio down, a release
/// in doubt) leaves the rest their turn. A number numberd lists as releasing is asked again until released. The
/// releases run several at once (``releasesInFlightPerAccountMax``, ``releasesInFlightMax``) and the time in all grows
/// with them (``settleTime(releases:purchases:)``): one at a time within five minutes, a set-up of 1000 accounts with
/// 50 numbers each (50,000 releases, about 0.3 s each at Twilio) left all but about 1,000 owned. What cannot be settled
/// is reported, one line each.
final class Leftovers: Sendable {
    /// A purchase whose outcome is open, with the `authorization` it was made under (an account's key in the
    /// measured run; none for the set-up's, made with the admin key the settling client carries): the idempotency
    /// record answers only the same request.
    struct Purchase: Sendable {
        var request: PurchaseNumbersRequest
        var idempotencyKey: String
        var metadata: [String: String]
    }

    struct Release: Sendable {
        var accountId: String
        var numberId: String
    }

    /// The deadline of each settling call: long, so a purchase still running at the server is waited for.
    static let settleTimeout = TimeAmount.seconds(30)
    /// How long settling may take in all by default, whatever there is to settle (``settleTime(releases:purchases:)``
    /// gives more to many releases); what is left then is reported unsettled.
    static let settleTimeMax = TimeAmount.minutes(5)
    /// The settling time each round of releases made at once adds (``settleTime(releases:purchases:)``): a release
    /// takes about 0.3 s at Twilio, and the rest leaves room for a few asked again.
    static let settleTimePerReleaseRound = TimeAmount.seconds(1)
    /// Releases settled at once for one account: numberd makes 8 provider changes per account at Twilio at once
    /// (`limits.providerChangesInFlightPerAccountMax`); more would only wait their turn there, on their deadline.
    static let releasesInFlightPerAccountMax = 8
    /// Releases settled at once in all: a quarter of the 128 provider changes numberd makes at Twilio at once for
    /// every tenant (`limits.providerChangesInFlightMax`), so the clean-up leaves the others theirs.
    static let releasesInFlightMax = 32
    /// The pause before a leftover is asked again the first time, doubled after each answer that leaves it open up to
    /// `retryPauseMax`; at least the `retryAfterMs` the server names. Asked again at once, a purchase still running
    /// at numberd answered `REQUEST_IN_PROGRESS` three times within milliseconds and was reported unsettled, then
    /// committed: a number owned and billed that nothing released.
    static let retryPauseInitial = TimeAmount.milliseconds(100)
    /// The longest pause between two attempts.
    static let retryPauseMax = TimeAmount.seconds(5)
    /// The least time one leftover is asked for, whatever its share of the time left (the deadline allowing): a few
    /// settling calls.
    static let itemTimeMin = TimeAmount.seconds(30)
    /// How long a purchase numberd still runs (`ABORTED` / `REQUEST_IN_PROGRESS`) is waited for when its share is
    /// shorter: one buy at Twilio whose answer is lost (10 s queued and 15 s running, numberd's default Twilio
    /// timeout), then the look-up that settles it (4 attempts of as long, up to 10 s between), about 155 s. Given up
    /// earlier, a purchase numberd then commits is owned and billed every month, and nothing releases it.
    static let purchaseRunningMax = TimeAmount.seconds(155)

    private let state = Mutex<(purchases: [Purchase], releases: [Release], keyIds: [String], accountIds: [String])>(
        ([], [], [], []))

    /// What settling has to do, in words ("2 purchase(s) in doubt, 16 number(s) to release, …"): said before it
    /// starts, since against a numberd that does not answer it can take minutes in silence.
    var pending: String {
        state.withLock {
            "\($0.purchases.count) purchase(s) in doubt, \($0.releases.count) number(s) to release, "
                + "\($0.keyIds.count) key(s) to revoke, \($0.accountIds.count) account(s) to suspend"
        }
    }

    /// Keeps a purchase that failed with its outcome open (the client marks it `outcome=unknown` with its key).
    /// Returns whether it was kept; a purchase that failed for sure bought nothing.
    func purchaseFailed(_ error: any Error, request: PurchaseNumbersRequest, metadata: [String: String]) -> Bool {
        guard let error = error as? RPCError, error.outcomeUnknown,
            let key = error.idempotencyKey
        else { return false }
        state.withLock {
            $0.purchases.append(Purchase(request: request, idempotencyKey: key, metadata: metadata))
        }
        return true
    }

    /// Keeps a release that failed (callers leave out answers that say the number is gone: ``isGone(_:)``).
    func releaseFailed(accountId: String, numberId: String) {
        state.withLock { $0.releases.append(Release(accountId: accountId, numberId: numberId)) }
    }

    /// Numbers to release at the end whatever happens (the set-up's own, recorded as each is bought).
    func bought(_ numberIds: [String], accountId: String) {
        state.withLock { state in
            state.releases += numberIds.map { Release(accountId: accountId, numberId: $0) }
        }
    }

    /// An API key the run made, revoked at its end.
    func madeKey(_ keyId: String) {
        state.withLock { $0.keyIds.append(keyId) }
    }

    /// An account the run made, suspended at its end: it keeps the funds the set-up gave it, which its key — revoked
    /// too — could otherwise spend until an operator noticed.
    func madeAccount(_ accountId: String) {
        state.withLock { $0.accountIds.append(accountId) }
    }

    /// Leftovers not settled yet (numbers and purchases; keys and accounts apart).
    var count: Int { state.withLock { $0.purchases.count + $0.releases.count } }

    /// Settles every leftover with `client` (which carries the admin key: the set-up's purchases were made with it, and
    /// a release names its account), revokes the keys, suspends the accounts, and returns what may still be owned or
    /// valid, one line each (empty when everything was given back). Stops asking at `deadline` (nil: now plus
    /// ``settleTime(releases:purchases:)`` of the releases, of the numbers the purchases in doubt may have bought and
    /// of those purchases); what is left is in the lines.
    ///
    /// The purchases come first: one of the run's is asked again with its account's own key, which a revocation or a
    /// suspension would refuse. The keys and the accounts come next, before the releases: they need no provider, so
    /// they settle while Twilio is down, and the releases do not need them — the admin key releases a suspended
    /// account's numbers too. Each key and account is asked at least once, even past the deadline (with a 5 s call
    /// deadline, and only while such late asks are answered): purchases still running at numberd may wait until it,
    /// and a key left valid spends its account's funds. The releases run several
    /// at once (``settle(releases:client:deadline:)``). Each leftover is asked until its own deadline, its share of the
    /// time left: asked until the one deadline, the first release Twilio could not make took all five minutes, and no
    /// later release, key or account was asked at all. A purchase counts twice, for the number it may have bought; the
    /// releases count by the rounds they take (``releaseRounds(_:)``).
    func settle(
        client: any LoadClient, deadline requested: NIODeadline? = nil, log: (String) -> Void
    ) async -> [String] {
        let (purchases, releases, keyIds, accountIds) = state.withLock { state in
            defer { state = ([], [], [], []) }
            return (state.purchases, state.releases, state.keyIds, state.accountIds)
        }
        let mayBuy = purchases.flatMap { purchase in
            purchase.request.numbers.map { Release(accountId: purchase.request.accountId, numberId: $0) }
        }
        let deadline =
            requested ?? NIODeadline.now() + Self.settleTime(releases: releases + mayBuy, purchases: purchases.count)
        var toRelease = releases
        var unsettled: [String] = []
        for (index, purchase) in purchases.enumerated() {
            let options = CallOptions(
                timeout: Self.settleTimeout, idempotencyKey: purchase.idempotencyKey, metadata: purchase.metadata)
            let itemsLeft =
                2 * (purchases.count - index) + keyIds.count + accountIds.count + Self.releaseRounds(toRelease)
            let outcome = await Self.asking(
                until: Self.itemDeadline(deadline, itemsLeft: itemsLeft),
                whileRunningUntil: min(deadline, NIODeadline.now() + Self.purchaseRunningMax)
            ) {
                try await client.purchaseNumbers(purchase.request, options: options)
            }
            switch outcome {
            case .success(let response):
                if !response.replayed {
                    // numberd no longer had the key (the first attempt never arrived, or reconciliation voided it):
                    // this was a new purchase, made by the clean-up itself — said so, and released as the rest.
                    log(
                        "purchase in doubt \(purchase.request.numbers) key \(purchase.idempotencyKey): the first "
                            + "attempt never took effect; asking again bought it now (released below)")
                }
                toRelease += response.numbers.map {
                    Release(accountId: purchase.request.accountId, numberId: $0.number.id)
                }
            case .failure(let error) where Self.verdict(on: error) == .refused:
                break  // the request itself refused: nothing was bought under it
            default:
                unsettled.append(
                    "purchase in doubt: \(purchase.request.numbers) key \(purchase.idempotencyKey): "
                        + (outcome.map { "\($0)" } ?? "not asked"))
            }
        }
        let releaseRoundsLeft = Self.releaseRounds(toRelease)
        // Past the deadline each key and account is asked once, with a short deadline, while such late asks are
        // answered: one numberd does not answer ends them (2,000 asked one after another at 30 s each took hours).
        var lateAsksAnswered = true
        for (index, keyId) in keyIds.enumerated() {
            let itemsLeft = keyIds.count - index + accountIds.count + releaseRoundsLeft
            let timeout = Self.callTimeout(deadline: deadline)
            let outcome = await Self.asking(
                until: Self.itemDeadline(deadline, itemsLeft: itemsLeft), atLeastOnce: lateAsksAnswered
            ) {
                try await client.revokeApiKey(RevokeApiKeyRequest(keyId: keyId), options: CallOptions(timeout: timeout))
            }
            if NIODeadline.now() >= deadline, (try? outcome?.get()) == nil { lateAsksAnswered = false }
            if case .success = outcome { continue }
            unsettled.append("API key \(keyId) not revoked: \(outcome.map { "\($0)" } ?? "settling took too long")")
        }
        for (index, accountId) in accountIds.enumerated() {
            let itemsLeft = accountIds.count - index + releaseRoundsLeft
            let timeout = Self.callTimeout(deadline: deadline)
            let outcome = await Self.asking(
                until: Self.itemDeadline(deadline, itemsLeft: itemsLeft), atLeastOnce: lateAsksAnswered
            ) {
                try await client.setAccountStatus(
                    SetAccountStatusRequest(accountId: accountId, status: .suspended),
                    options: CallOptions(timeout: timeout))
            }
            if NIODeadline.now() >= deadline, (try? outcome?.get()) == nil { lateAsksAnswered = false }
            if case .success = outcome { continue }
            unsettled.append(
                "account \(accountId) not suspended: \(outcome.map { "\($0)" } ?? "settling took too long")")
        }
        unsettled += await settle(releases: toRelease, client: client, deadline: deadline)
        for line in unsettled { log(line) }
        return unsettled
    }

    /// The deadline of a key's or an account's settling call: ``settleTimeout``, or ``lateCallTimeout`` once the
    /// settling `deadline` has passed.
    static func callTimeout(deadline: NIODeadline) -> TimeAmount {
        NIODeadline.now() < deadline ? settleTimeout : lateCallTimeout
    }

    /// The deadline of a key's or an account's one ask past the settling deadline: they need no provider, so a
    /// numberd that answers does so at once.
    static let lateCallTimeout = TimeAmount.seconds(5)

    /// How long settling may take in all when the caller names no deadline: ``settleTimeMax``, or, when there is
    /// more to release than fits in it, ``settleTimePerReleaseRound`` for each round of releases made at once
    /// (``releaseRounds(_:)``) — max(5 min, 1 s × releases / releases at once). 50,000 releases over 1000 accounts
    /// get 1563 s; 50 of one account, 5 minutes. With `purchases` in doubt, ``purchaseRunningMax`` more: two purchases
    /// still running at numberd took 310 s of the 5 minutes, and the numbers they bought were not asked at all.
    static func settleTime(releases: [Release], purchases: Int = 0) -> TimeAmount {
        max(settleTimeMax, settleTimePerReleaseRound * releaseRounds(releases))
            + (purchases > 0 ? purchaseRunningMax : .zero)
    }

    /// The rounds settling `releases` takes at most at once (``releasesInFlightMax`` in all,
    /// ``releasesInFlightPerAccountMax`` of one account): the more of the two bounds asks.
    static func releaseRounds(_ releases: [Release]) -> Int {
        var perAccount: [String: Int] = [:]
        for release in releases { perAccount[release.accountId, default: 0] += 1 }
        return max(
            roundsUp(releases.count, by: releasesInFlightMax),
            roundsUp(perAccount.values.max() ?? 0, by: releasesInFlightPerAccountMax))
    }

    /// `count` divided by `divisor`, rounded up.
    private static func roundsUp(_ count: Int, by divisor: Int) -> Int { (count + divisor - 1) / divisor }

    /// A release settled by a child task of ``settle(releases:client:deadline:)``.
    private struct ReleaseSettled: Sendable {
        var index: Int
        var accountId: String
        /// Why it may still be owned; nil once given back.
        var line: String?
    }

    /// Releases `releases`, as many at once as the limits allow (``releasesInFlightPerAccountMax`` of one account,
    /// ``releasesInFlightMax`` in all); returns the lines of those that may still be owned, in the order of
    /// `releases`. Each is asked until its share of the time left to `deadline`, counted in the rounds still to come
    /// for it (as ``releaseRounds(_:)`` counts them): one at a time, 50,000 releases of about 0.3 s each needed over
    /// four hours, and those past the five minutes stayed owned.
    private func settle(
        releases: [Release], client: any LoadClient, deadline: NIODeadline
    ) async -> [String] {
        var queues: [String: ArraySlice<(index: Int, release: Release)>] = [:]
        var accounts: [String] = []  // those with releases not started, in the order first seen
        for (index, release) in releases.enumerated() {
            if queues[release.accountId] == nil { accounts.append(release.accountId) }
            queues[release.accountId, default: []].append((index, release))
        }
        var lines = [String?](repeating: nil, count: releases.count)
        var inFlight: [String: Int] = [:]
        var running = 0
        var notStarted = releases.count
        await withTaskGroup(of: ReleaseSettled.self) { group in
            var settled: ReleaseSettled?
            repeat {
                if let settled {
                    lines[settled.index] = settled.line
                    inFlight[settled.accountId, default: 1] -= 1
                    running -= 1
                }
                // Starts what the limits allow now, at most one release of each account per pass.
                var started = true
                while started, running < Self.releasesInFlightMax, notStarted > 0 {
                    started = false
                    var emptied = false
                    for accountId in accounts {
                        guard running < Self.releasesInFlightMax else { break }
                        guard inFlight[accountId, default: 0] < Self.releasesInFlightPerAccountMax,
                            let accountLeft = queues[accountId]?.count, accountLeft > 0,
                            let next = queues[accountId]?.popFirst()
                        else { continue }
                        let rounds = max(
                            Self.roundsUp(notStarted, by: Self.releasesInFlightMax),
                            Self.roundsUp(accountLeft, by: Self.releasesInFlightPerAccountMax))
                        let until = Self.itemDeadline(deadline, itemsLeft: rounds)
                        notStarted -= 1
                        started = true
                        emptied = emptied || accountLeft == 1
                        // Its turn came after the deadline: not asked. One whose turn came before is asked at least
                        // once, however late its task starts (a busy machine).
                        guard NIODeadline.now() < until else {
                            lines[next.index] = Self.unsettledLine(next.release, releasing: false, outcome: nil)
                            continue
                        }
                        inFlight[accountId, default: 0] += 1
                        running += 1
                        group.addTask {
                            let line = await self.settle(next.release, client: client, deadline: until)
                            return ReleaseSettled(index: next.index, accountId: accountId, line: line)
                        }
                    }
                    if emptied { accounts.removeAll { queues[$0]?.isEmpty ?? true } }
                }
                settled = await group.next()
            } while settled != nil
        }
        return lines.compactMap { $0 }
    }

    /// Until when one leftover is asked, of `itemsLeft` still to settle by `deadline` (itself included): its share of
    /// the time left, at least `itemTimeMin`, never past `deadline`.
    static func itemDeadline(_ deadline: NIODeadline, itemsLeft: Int, now: NIODeadline = .now()) -> NIODeadline {
        let share = TimeAmount.nanoseconds((deadline - now).nanoseconds / Int64(max(itemsLeft, 1)))
        return min(deadline, now + max(Self.itemTimeMin, share))
    }

    /// Releases one number; nil once it is given back, else the line that says why it may still be owned. Every
    /// attempt goes under one idempotency key, so one whose answer a deadline lost is answered, asked again, with that
    /// release's result (`REQUEST_IN_PROGRESS` while it runs) instead of a refusal of a second release. A number
    /// numberd lists as releasing is asked again too, until released or the item's deadline: a release a running call
    /// drives is withdrawn, the number active again, if Twilio refuses it outright.
    private func settle(
        _ release: Release, client: any LoadClient, deadline: NIODeadline
    ) async -> String? {
        let request = ReleaseNumberRequest(accountId: release.accountId, numberId: release.numberId)
        let options = CallOptions(timeout: Self.settleTimeout, idempotencyKey: NumbersClient.newIdempotencyKey())
        var releasing = false
        let outcome = await Self.asking(until: deadline, atLeastOnce: true) { () async throws -> Void in
            do {
                _ = try await client.releaseNumber(request, options: options)
            } catch let error where Self.isGone(error) {
                return  // released already (by the run's release whose answer was lost)
            } catch let error where Self.mayBeUnderWay(error) {
                // A release of it is under way or in doubt (the run's under its own key, or this one's), or waits for
                // its turn, or a trunk change runs: released is done; anything else is asked again.
                let status = try? await client.getNumber(
                    GetNumberRequest(accountId: release.accountId, numberId: release.numberId),
                    options: CallOptions(timeout: Self.settleTimeout)
                ).number.status
                if status == .released { return }
                releasing = status == .releasing
                throw error
            }
        }
        if case .success = outcome { return nil }
        return Self.unsettledLine(release, releasing: releasing, outcome: outcome.map { "\($0)" })
    }

    /// The line of a release that may still be owned: `outcome` its last answer, nil when it was not asked.
    static func unsettledLine(_ release: Release, releasing: Bool, outcome: String?) -> String {
        let state = releasing ? " (releasing at numberd when last asked: done unless Twilio refuses it outright)" : ""
        return "number \(release.numberId) of \(release.accountId) not released\(state): " + (outcome ?? "not asked")
    }

    /// What an answer to a settling call says to do.
    enum Verdict: Equatable {
        /// The request itself is refused — a bad or unknown request, a state that refuses it
        /// (`StatusCode.refusesTheRequest`): asking again gets the same, and a purchase so refused bought
        /// nothing.
        case refused
        /// The caller's key may not (`UNAUTHENTICATED`, `PERMISSION_DENIED`): asking again cannot help, and the
        /// answer says nothing of what an earlier attempt did.
        case denied
        /// Asked again, after at least this pause: the answer is about this attempt only — a deadline, a lost
        /// connection, a request still running under its key (`ABORTED` / `REQUEST_IN_PROGRESS`), a release under
        /// way (`ABORTED` / `NUMBER_NOT_ACTIVE`), a refusal for the moment (`RESOURCE_EXHAUSTED` / `RATE_LIMITED`,
        /// with the server's `retryAfterMs`), the server unavailable.
        case askAgain(after: TimeAmount)
    }

    /// The verdict on a settling call's failure. Only a refusal of the request itself is final: any other answer, read
    /// as "nothing was bought", dropped purchases a rate limit or a request still running had only put off.
    static func verdict(on error: any Error) -> Verdict {
        guard let error = error as? RPCError else { return .askAgain(after: .zero) }
        switch error.code {
        case let code where code.refusesTheRequest:
            return error.outcomeUnknown ? .askAgain(after: .zero) : .refused
        // A count at its limit (the account's numbers): nothing done, and no pause ends it.
        case .resourceExhausted where error.reason == "LIMIT_EXCEEDED":
            return .refused
        case .unauthenticated, .permissionDenied:
            return .denied
        default:
            let asked = error.details["retryAfterMs"].flatMap { Int64($0) }.map { TimeAmount.milliseconds($0) }
            return .askAgain(after: asked ?? .zero)
        }
    }

    /// Makes `call` until it succeeds, its failure is final (``verdict(on:)``) or `deadline` comes — or, while the
    /// answer is that numberd still runs the request under its key (``isRunning(_:)``), `runningDeadline` when that
    /// is later —, pausing between attempts (from `retryPauseInitial`, doubling up to `retryPauseMax`, at least what
    /// the server asked for; a pause that would pass the deadline is not taken). Returns the last outcome; nil when
    /// the deadline had passed before the first attempt, unless `atLeastOnce` (an item whose turn was decided before
    /// the deadline, run by a task that may only start later, when the machine is busy).
    static func asking<Value: Sendable>(
        until deadline: NIODeadline, whileRunningUntil runningDeadline: NIODeadline? = nil, atLeastOnce: Bool = false,
        _ call: () async throws -> Value
    ) async -> Result<Value, any Error>? {
        var outcome: Result<Value, any Error>?
        var pause = retryPauseInitial
        var until = deadline
        var first = atLeastOnce
        while first || NIODeadline.now() < until {
            first = false
            do {
                return .success(try await call())
            } catch {
                outcome = .failure(error)
                guard case .askAgain(let after) = verdict(on: error) else { break }
                until = isRunning(error) ? max(deadline, runningDeadline ?? deadline) : deadline
                let wait = max(pause, after)
                guard until - .now() > wait else { break }
                try? await Task.sleep(nanoseconds: UInt64(wait.nanoseconds))
                pause = min(pause * 2, retryPauseMax)
            }
        }
        return outcome
    }

    /// Whether an answer says numberd is still running the request under its idempotency key (`ABORTED` /
    /// `REQUEST_IN_PROGRESS`): it ends on its own, with the result asking again then gets.
    static func isRunning(_ error: any Error) -> Bool {
        (error as? RPCError)?.reason == "REQUEST_IN_PROGRESS"
    }

    /// Whether a release's answer says a release of the number may be under way already (`ABORTED` /
    /// `NUMBER_NOT_ACTIVE`: another call's, or a trunk change; `REQUEST_IN_PROGRESS`: an earlier attempt of this one),
    /// which the number's status tells apart.
    static func mayBeUnderWay(_ error: any Error) -> Bool {
        guard let error = error as? RPCError, error.code == .aborted else { return false }
        return error.reason == "NUMBER_NOT_ACTIVE" || error.reason == "REQUEST_IN_PROGRESS"
    }

    /// Whether a release's answer says the number is no longer the account's to release.
    static func isGone(_ error: any Error) -> Bool {
        guard let error = error as? RPCError else { return false }
        return error.reason == "ALREADY_RELEASED" || error.code == .notFound
    }
}
