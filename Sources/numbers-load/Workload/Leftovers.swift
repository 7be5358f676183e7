import NIOCore
import NumberAPI
import NumberClient
import Synchronization

/// Numbers a run may still own when its measured window ends: purchases a failure left in doubt (a deadline, a lost
/// connection, `OUTCOME_UNKNOWN`: numberd carries a started purchase through, so the number may be owned and billed
/// every month) and releases that failed. The run settles them afterwards (``settle(client:log:)``): a doubtful
/// purchase is asked again under its idempotency key, which answers what the first attempt did, and whatever it
/// bought is released; a failed release is tried again. What still cannot be settled is reported.
final class Leftovers: Sendable {
    struct Purchase: Sendable {
        var account: LoadAccount
        var request: PurchaseNumbersRequest
        var idempotencyKey: String
    }

    struct Release: Sendable {
        var account: LoadAccount
        var numberId: String
    }

    /// Attempts per leftover while settling (each with `settleTimeout`).
    static let attemptsMax = 3
    /// The deadline of each settling call: long, so a purchase still running at the server is waited for.
    static let settleTimeout = TimeAmount.seconds(30)

    private let state = Mutex<(purchases: [Purchase], releases: [Release])>(([], []))

    /// Keeps a purchase that failed with its outcome open (the client marks it `outcome=unknown` with its key).
    /// Returns whether it was kept; a purchase that failed for sure bought nothing.
    func purchaseFailed(_ error: any Error, account: LoadAccount, request: PurchaseNumbersRequest) -> Bool {
        guard let error = error as? RPCError, error.details["outcome"] == "unknown",
            let key = error.details["idempotencyKey"]
        else { return false }
        state.withLock { $0.purchases.append(Purchase(account: account, request: request, idempotencyKey: key)) }
        return true
    }

    /// Keeps a release that failed (callers leave out answers that say the number is gone: ``isGone(_:)``).
    func releaseFailed(_ error: any Error, account: LoadAccount, numberId: String) {
        state.withLock { $0.releases.append(Release(account: account, numberId: numberId)) }
    }

    /// Numbers to release at the end whatever happened (the fixture's own).
    func release(_ numberIds: [String], of account: LoadAccount) {
        state.withLock { state in
            state.releases += numberIds.map { Release(account: account, numberId: $0) }
        }
    }

    /// Leftovers not settled yet.
    var count: Int { state.withLock { $0.purchases.count + $0.releases.count } }

    /// Settles every leftover with `client` (the accounts' own keys); returns how many numbers may still be owned.
    func settle(client: any LoadClient, log: (String) -> Void) async -> Int {
        let (purchases, releases) = state.withLock { state in
            defer { state = ([], []) }
            return (state.purchases, state.releases)
        }
        var toRelease = releases
        var unsettled = 0
        for purchase in purchases {
            let options = CallOptions(
                timeout: Self.settleTimeout, idempotencyKey: purchase.idempotencyKey,
                metadata: purchase.account.metadata)
            var outcome: Result<PurchaseNumbersResponse, any Error>?
            for _ in 0..<Self.attemptsMax {
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
                toRelease += response.numbers.map { Release(account: purchase.account, numberId: $0.number.id) }
            case .failure(let error) where Self.leavesOutcomeOpen(error):
                unsettled += purchase.request.numbers.count
                log("purchase of \(purchase.request.numbers) (key \(purchase.idempotencyKey)) still in doubt: \(error)")
            default:
                break  // refused: nothing was bought
            }
        }
        for release in toRelease {
            let options = CallOptions(timeout: Self.settleTimeout, metadata: release.account.metadata)
            var done = false
            var last: (any Error)?
            for _ in 0..<Self.attemptsMax where !done {
                do {
                    _ = try await client.releaseNumber(
                        ReleaseNumberRequest(accountId: release.account.id, numberId: release.numberId),
                        options: options)
                    done = true
                } catch {
                    last = error
                    done = Self.isGone(error)
                }
            }
            if !done {
                unsettled += 1
                log("release of \(release.numberId) failed: \(last.map { "\($0)" } ?? "?")")
            }
        }
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
