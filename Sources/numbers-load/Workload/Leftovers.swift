import NIOCore
import NumberAPI
import NumberClient
import Synchronization

/// What a run made that must not outlive it: the numbers it bought (the set-up's, recorded as each is bought), purchases
/// a failure left in doubt (a deadline, a lost connection, `OUTCOME_UNKNOWN`: numberd carries a started purchase
/// through, so the number may be owned and billed every month), releases that failed, and the API keys it made. The run
/// settles them at its end, also when it fails part-way (``settle(client:deadline:log:)``): a doubtful purchase is asked
/// again under its idempotency key, which answers what the first attempt did (or, when numberd no longer has the key
/// because that attempt never took effect, buys it now: logged), and whatever it bought is released; a failed release
/// is tried again. What cannot be settled is reported, one line each.
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

    /// Attempts per leftover while settling (each with `settleTimeout`).
    static let attemptsMax = 3
    /// The deadline of each settling call: long, so a purchase still running at the server is waited for.
    static let settleTimeout = TimeAmount.seconds(30)
    /// How long settling may take in all by default; what is left then is reported unsettled.
    static let settleTimeMax = TimeAmount.minutes(5)

    private let state = Mutex<(purchases: [Purchase], releases: [Release], keyIds: [String])>(([], [], []))

    /// Keeps a purchase that failed with its outcome open (the client marks it `outcome=unknown` with its key).
    /// Returns whether it was kept; a purchase that failed for sure bought nothing.
    func purchaseFailed(_ error: any Error, request: PurchaseNumbersRequest, metadata: [String: String]) -> Bool {
        guard let error = error as? RPCError, error.details["outcome"] == "unknown",
            let key = error.details["idempotencyKey"]
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

    /// Leftovers not settled yet (numbers and purchases; keys apart).
    var count: Int { state.withLock { $0.purchases.count + $0.releases.count } }

    /// Settles every leftover with `client` (which carries the admin key: the set-up's purchases were made with it,
    /// and a release names its account), revokes the keys, and returns what may still be owned or valid, one line
    /// each (empty when everything was given back). Stops trying at `deadline`; what is left is in the lines.
    func settle(
        client: any LoadClient, deadline: NIODeadline = .now() + Leftovers.settleTimeMax, log: (String) -> Void
    ) async -> [String] {
        let (purchases, releases, keyIds) = state.withLock { state in
            defer { state = ([], [], []) }
            return (state.purchases, state.releases, state.keyIds)
        }
        var toRelease = releases
        var unsettled: [String] = []
        for purchase in purchases {
            guard NIODeadline.now() < deadline else {
                unsettled.append("purchase in doubt: \(purchase.request.numbers) key \(purchase.idempotencyKey)")
                continue
            }
            let options = CallOptions(
                timeout: Self.settleTimeout, idempotencyKey: purchase.idempotencyKey, metadata: purchase.metadata)
            var outcome: Result<PurchaseNumbersResponse, any Error>?
            for _ in 0..<Self.attemptsMax where NIODeadline.now() < deadline {
                do {
                    outcome = .success(try await client.purchaseNumbers(purchase.request, options: options))
                    break
                } catch {
                    outcome = .failure(error)
                    if !Self.leavesOutcomeOpen(error) { break }
                }
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
            case .failure(let error) where !Self.leavesOutcomeOpen(error):
                break  // refused: nothing was bought
            default:
                unsettled.append(
                    "purchase in doubt: \(purchase.request.numbers) key \(purchase.idempotencyKey): "
                        + (outcome.map { "\($0)" } ?? "not asked"))
            }
        }
        for release in toRelease {
            var done = false
            var last: (any Error)?
            for _ in 0..<Self.attemptsMax where !done && NIODeadline.now() < deadline {
                do {
                    _ = try await client.releaseNumber(
                        ReleaseNumberRequest(accountId: release.accountId, numberId: release.numberId),
                        options: CallOptions(timeout: Self.settleTimeout))
                    done = true
                } catch {
                    last = error
                    done = Self.isGone(error)
                }
            }
            if !done {
                unsettled.append(
                    "number \(release.numberId) of \(release.accountId) not released: \(last.map { "\($0)" } ?? "not asked")"
                )
            }
        }
        for keyId in keyIds {
            do {
                guard NIODeadline.now() < deadline else { throw HarnessError(message: "settling took too long") }
                _ = try await client.revokeApiKey(
                    RevokeApiKeyRequest(keyId: keyId), options: CallOptions(timeout: Self.settleTimeout))
            } catch {
                unsettled.append("API key \(keyId) not revoked: \(error)")
            }
        }
        for line in unsettled { log(line) }
        return unsettled
    }

    /// Whether a failure leaves a purchase's outcome open (asked again, it may still answer what it did).
    static func leavesOutcomeOpen(_ error: any Error) -> Bool {
        guard let error = error as? RPCError else { return true }
        return error.details["outcome"] == "unknown" || error.details["outcome"] == "not-started"
            || error.code == .unavailable || error.code == .deadlineExceeded
            || (error.code == .aborted && error.reason == "REQUEST_IN_PROGRESS")
    }

    /// Whether a release's answer says the number is no longer the account's to release.
    static func isGone(_ error: any Error) -> Bool {
        guard let error = error as? RPCError else { return false }
        return error.reason == "ALREADY_RELEASED" || error.code == .notFound
    }
}
