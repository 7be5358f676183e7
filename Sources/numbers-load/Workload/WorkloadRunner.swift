import NIOCore
import NumberAPI
import NumberClient
import Synchronization

/// Makes one operation's calls with an account's key and records each into the recorder.
struct WorkloadRunner: Sendable {
    let recorder: LatencyRecorder
    let candidates: CandidatePool
    let wireSizes: WireSizes
    let country: String
    /// Per-call deadline.
    let timeout: TimeAmount
    /// Search results fetched when the candidate pool is empty.
    static let candidateSearchLimit: Int32 = 50

    /// Performs `operation` (a purchase also releases what it bought) due at `intended`; returns the calls made.
    @discardableResult
    func perform(
        _ operation: Operation, client: any LoadClient, account: LoadAccount, stripe: Int, intended: NIODeadline,
        random: inout FastRandom
    ) async -> Int {
        let options = CallOptions(timeout: timeout, metadata: account.metadata)
        switch operation {
        case .list:
            await measure(.list, stripe: stripe, intended: intended) {
                _ = try await client.listNumbers(ListNumbersRequest(accountId: account.id), options: options)
            }
        case .balance:
            await measure(.balance, stripe: stripe, intended: intended) {
                _ = try await client.getBalance(GetBalanceRequest(accountId: account.id), options: options)
            }
        case .get:
            let numberId =
                account.numberIds.isEmpty
                ? "NUM_missing" : account.numberIds[Int(random.next() % UInt64(account.numberIds.count))]
            await measure(.get, stripe: stripe, intended: intended) {
                _ = try await client.getNumber(
                    GetNumberRequest(accountId: account.id, numberId: numberId), options: options)
            }
        case .search:
            await measure(.search, stripe: stripe, intended: intended) {
                _ = try await search(client: client, account: account, options: options, limit: 20)
            }
        case .purchase:
            return await purchaseAndRelease(
                client: client, account: account, options: options, stripe: stripe, intended: intended)
        case .release, .raw:
            preconditionFailure("\(operation) is not an operation of its own in a mix")
        }
        return 1
    }

    private func search(
        client: any LoadClient, account: LoadAccount, options: CallOptions, limit: Int32
    ) async throws -> [String] {
        let response = try await client.searchNumbers(
            SearchNumbersRequest(accountId: account.id, country: country, type: .local, limit: limit),
            options: options)
        return response.numbers.map(\.phoneNumber)
    }

    /// Buys one number (searching for candidates first when the pool is empty), then releases it.
    private func purchaseAndRelease(
        client: any LoadClient, account: LoadAccount, options: CallOptions, stripe: Int, intended: NIODeadline
    ) async -> Int {
        let (candidate, searched) = await candidates.take {
            let found = Mutex<[String]>([])
            await measure(.search, stripe: stripe, intended: .now()) {
                let numbers = try await search(
                    client: client, account: account, options: options, limit: Self.candidateSearchLimit)
                found.withLock { $0 = numbers }
            }
            return found.withLock { $0 }
        }
        var calls = searched ? 1 : 0
        guard let phone = candidate else { return calls }
        var numberId: String?
        calls += 1
        await measure(.purchase, stripe: stripe, intended: intended) {
            let response = try await client.purchaseNumbers(
                PurchaseNumbersRequest(accountId: account.id, country: country, numbers: [phone], type: .local),
                options: options)
            numberId = response.numbers.first?.number.id
        }
        guard let numberId else {
            candidates.returned(phone)
            return calls
        }
        calls += 1
        await measure(.release, stripe: stripe, intended: .now()) {
            _ = try await client.releaseNumber(
                ReleaseNumberRequest(accountId: account.id, numberId: numberId), options: options)
        }
        candidates.returned(phone)
        return calls
    }

    /// Runs one call and records its latency from `intended` and its outcome; returns whether it succeeded.
    @discardableResult
    private func measure(
        _ operation: Operation, stripe: Int, intended: NIODeadline, _ body: () async throws -> Void
    ) async -> Bool {
        let outcome: String
        do {
            try await body()
            outcome = "OK"
        } catch let error as RPCError {
            outcome = error.reason.isEmpty ? error.code.name : "\(error.code.name)/\(error.reason)"
        } catch {
            outcome = "CLIENT_ERROR"
        }
        recorder.record(
            stripe: stripe, operation: operation, intended: intended, end: .now(), outcome: outcome,
            wireBytes: wireSizes[operation])
        return outcome == "OK"
    }
}

/// Frame bytes on the wire per call of each operation (request: HEADERS + MESSAGE; response: MESSAGE + TRAILERS),
/// measured on a sample call; TLS record overhead not included.
struct WireSizes: Sendable {
    var sizes: [Operation: (request: Int, response: Int)] = [:]

    /// The sampled sizes, nil for an operation that was not sampled (purchase and release): such calls stay out of
    /// the average bytes per call instead of counting as zero bytes.
    subscript(operation: Operation) -> (request: Int, response: Int)? { sizes[operation] }
}
