import NIOCore
import NumberAPI
import NumberClient
import Synchronization

@testable import numbers_load

/// Stands in for numberd: every call succeeds after its operation's duration (a call of a `failing` operation throws
/// instead), which advances `clock` when there is one (exact latencies) or is slept otherwise (real time); counts the
/// calls of each operation. The first call answered may take `firstCallDuration` instead (one slow call in a run).
final class StubLoadClient: LoadClient {
    let clock: FakeClock?
    let durations: [Operation: TimeAmount]
    let failing: Set<Operation>
    let firstCallDuration: TimeAmount?
    /// The most numbers a search answers with (fewer if its limit is lower).
    let searchResults: Int32
    private let counts = Mutex<[Operation: Int]>([:])
    /// Searches held until ``releaseSearches()`` (nil: none held).
    private let heldSearches = Mutex<[CheckedContinuation<Void, Never>]?>(nil)

    /// Holds every search from now on until ``releaseSearches()``.
    func holdSearches() { heldSearches.withLock { $0 = [] } }

    /// Searches being held now.
    var heldSearchCount: Int { heldSearches.withLock { $0?.count ?? 0 } }

    /// Lets the held searches (and later ones) go on.
    func releaseSearches() {
        let held = heldSearches.withLock { held in
            defer { held = nil }
            return held ?? []
        }
        for search in held { search.resume() }
    }

    init(
        clock: FakeClock?, durations: [Operation: TimeAmount], failing: Set<Operation> = [],
        firstCallDuration: TimeAmount? = nil, searchResults: Int32 = 3
    ) {
        self.searchResults = searchResults
        self.clock = clock
        self.durations = durations
        self.failing = failing
        self.firstCallDuration = firstCallDuration
    }

    /// What a call of a `failing` operation throws, unless `refusal` is set.
    struct Refused: Error {}
    /// What a call of a `failing` operation throws instead of `Refused` (numberd's answer).
    let refusal = Mutex<RPCError?>(nil)

    /// Calls made of `operation`.
    func calls(_ operation: Operation) -> Int { counts.withLock { $0[operation] ?? 0 } }

    /// Calls held until ``releaseCalls()``: the first call only, or every call (nil: none held).
    private let heldCalls = Mutex<(firstOnly: Bool, waiting: [CheckedContinuation<Void, Never>])?>(nil)

    /// Holds the first call answered (`firstOnly`) or every call from now on, until ``releaseCalls()``: a slow call
    /// whose end the test chooses, instead of a duration a loaded machine stretches.
    func holdCalls(firstOnly: Bool) { heldCalls.withLock { $0 = (firstOnly, []) } }

    /// Lets the held calls (and later ones) go on.
    func releaseCalls() {
        let waiting = heldCalls.withLock { held in
            defer { held = nil }
            return held?.waiting ?? []
        }
        for call in waiting { call.resume() }
    }

    private func waitIfHeld(first: Bool) async {
        await withCheckedContinuation { (call: CheckedContinuation<Void, Never>) in
            let held = heldCalls.withLock { held -> Bool in
                guard let current = held, first || !current.firstOnly else { return false }
                held?.waiting.append(call)
                return true
            }
            if !held { call.resume() }
        }
    }

    /// Calls of each operation by account id, in order.
    private let accounts = Mutex<[Operation: [String]]>([:])

    /// The accounts `operation`'s calls named, in order.
    func accounts(_ operation: Operation) -> [String] { accounts.withLock { $0[operation] ?? [] } }

    private func answer(_ operation: Operation, account: String) async throws {
        accounts.withLock { $0[operation, default: []].append(account) }
        let first = counts.withLock { counts -> Bool in
            defer { counts[operation, default: 0] += 1 }
            return counts.values.reduce(0, +) == 0
        }
        await waitIfHeld(first: first)
        // As NumbersClient ends a call whose task was cancelled (a signal interrupting the run).
        if Task.isCancelled { throw RPCError(code: .cancelled, message: "the call was cancelled", reason: "CANCELLED") }
        let duration = (first ? firstCallDuration : nil) ?? durations[operation] ?? .zero
        if let clock {
            clock.advance(by: duration)
        } else if duration > .zero {
            try? await Task.sleep(nanoseconds: UInt64(duration.nanoseconds))
        }
        if failing.contains(operation) {
            if let refusal = refusal.withLock({ $0 }) { throw refusal }
            throw Refused()
        }
    }

    func searchNumbers(_ request: SearchNumbersRequest, options: CallOptions) async throws -> SearchNumbersResponse {
        await withCheckedContinuation { (search: CheckedContinuation<Void, Never>) in
            let held = heldSearches.withLock { held -> Bool in
                guard held != nil else { return false }
                held?.append(search)
                return true
            }
            if !held { search.resume() }
        }
        try await answer(.search, account: request.accountId)
        let count = Int(min(request.limit, searchResults))
        return SearchNumbersResponse(numbers: (0..<count).map { AvailableNumber(phoneNumber: "+1415555010\($0)") })
    }

    func purchaseNumbers(
        _ request: PurchaseNumbersRequest, options: CallOptions
    ) async throws -> PurchaseNumbersResponse {
        try await answer(.purchase, account: request.accountId)
        return PurchaseNumbersResponse(
            numbers: request.numbers.map { PurchasedNumber(number: PhoneNumber(id: "NUM_\($0)", phoneNumber: $0)) })
    }

    func listNumbers(_ request: ListNumbersRequest, options: CallOptions) async throws -> ListNumbersResponse {
        try await answer(.list, account: request.accountId)
        return ListNumbersResponse()
    }

    func getNumber(_ request: GetNumberRequest, options: CallOptions) async throws -> GetNumberResponse {
        try await answer(.get, account: request.accountId)
        return GetNumberResponse()
    }

    func releaseNumber(_ request: ReleaseNumberRequest, options: CallOptions) async throws -> ReleaseNumberResponse {
        try await answer(.release, account: request.accountId)
        return ReleaseNumberResponse()
    }

    func getBalance(_ request: GetBalanceRequest, options: CallOptions) async throws -> GetBalanceResponse {
        try await answer(.balance, account: request.accountId)
        return GetBalanceResponse()
    }

    func revokeApiKey(_ request: RevokeApiKeyRequest, options: CallOptions) async throws -> RevokeApiKeyResponse {
        RevokeApiKeyResponse()
    }

    func setAccountStatus(
        _ request: SetAccountStatusRequest, options: CallOptions
    ) async throws -> SetAccountStatusResponse {
        SetAccountStatusResponse()
    }
}
