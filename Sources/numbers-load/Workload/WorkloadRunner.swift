import NIOCore
import NumberAPI
import NumberClient
import Synchronization

/// Makes one operation's calls with an account's key and records each into the recorder.
struct WorkloadRunner: Sendable {
    let recorder: LatencyRecorder
    let candidates: CandidatePool
    /// Purchases left in doubt and failed releases, settled after the run.
    let leftovers: Leftovers
    let wireSizes: WireSizes
    let country: String
    /// Per-call deadline.
    let timeout: TimeAmount
    /// Search results a search operation of the mix asks for.
    static let searchLimit: Int32 = 20
    /// Search results asked for when the candidate pool is empty (the simulator answers 30 at most).
    static let candidateSearchLimit: Int32 = 50
    /// The clock calls are timed with (a test's fake clock advances only when its stub's calls take time).
    var now: @Sendable () -> NIODeadline = { NIODeadline.now() }

    /// When the calls of one operation count as due. The first is due at the operation's intended time; a later one
    /// (the purchase after its candidate search or wait, the release after its purchase) could only be sent once
    /// what came before it ended, so it is due that much later: at the intended time plus the time the operation
    /// spent before sending it. A call's latency then holds its own RPC and how late the operation started (open
    /// loop: the dispatcher was behind), never the calls or the waits before it in the same operation.
    struct Schedule: Sendable {
        let intended: NIODeadline
        let started: NIODeadline

        func due(sentAt sent: NIODeadline) -> NIODeadline { intended + (sent - started) }
    }

    /// The calls `operation` makes at most: a purchase runs up to one search per refill round of the candidate pool,
    /// then buys and releases; every other operation is one call. A driver takes this many from the run's call budget
    /// before it starts the operation, so that `--calls-max` bounds the calls made.
    static func callsMax(of operation: Operation) -> Int {
        operation == .purchase ? CandidatePool.refillAttemptsMax + 2 : 1
    }

    /// Performs `operation` (a purchase also releases what it bought) due at `intended`; returns the calls made (at
    /// most `callsMax(of: operation)`).
    @discardableResult
    func perform(
        _ operation: Operation, client: any LoadClient, account: LoadAccount, stripe: Int, intended: NIODeadline,
        random: inout FastRandom
    ) async -> Int {
        let options = CallOptions(timeout: timeout, metadata: account.metadata)
        let schedule = Schedule(intended: intended, started: now())
        switch operation {
        case .list:
            await measure(.list, stripe: stripe, schedule: schedule) {
                _ = try await client.listNumbers(ListNumbersRequest(accountId: account.id), options: options)
            }
        case .balance:
            await measure(.balance, stripe: stripe, schedule: schedule) {
                _ = try await client.getBalance(GetBalanceRequest(accountId: account.id), options: options)
            }
        case .get:
            let numberId =
                account.numberIds.isEmpty
                ? "NUM_missing" : account.numberIds[Int(random.next() % UInt64(account.numberIds.count))]
            await measure(.get, stripe: stripe, schedule: schedule) {
                _ = try await client.getNumber(
                    GetNumberRequest(accountId: account.id, numberId: numberId), options: options)
            }
        case .search:
            await measure(.search, stripe: stripe, schedule: schedule) {
                _ = try await search(client: client, account: account, options: options, limit: Self.searchLimit)
            }
        case .purchase:
            return await purchaseAndRelease(
                client: client, account: account, options: options, stripe: stripe, schedule: schedule)
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

    /// Buys one number (searching for candidates first when the pool is empty), then releases it. A search this
    /// operation runs is recorded as a search and left out of the purchase's latency (it is due that much later); a
    /// wait for another worker's search stays in it — in open loop that wait is the system's delay, which timing the
    /// purchase from when it was sent would hide (coordinated omission). An operation that gets no candidate is
    /// recorded as a purchase with the outcome `NO_CANDIDATE`: in the outcomes and latencies, not a call made.
    private func purchaseAndRelease(
        client: any LoadClient, account: LoadAccount, options: CallOptions, stripe: Int, schedule: Schedule
    ) async -> Int {
        // This worker's own searches (one per refill round it ran): how many, and how long they took in all.
        let ownSearches = Mutex((count: 0, time: TimeAmount.zero))
        let (candidate, _) = await candidates.take {
            let found = Mutex<[String]>([])
            let began = now()
            await measure(.search, stripe: stripe, schedule: schedule, candidateSearch: true) {
                let numbers = try await search(
                    client: client, account: account, options: options, limit: Self.candidateSearchLimit)
                found.withLock { $0 = numbers }
            }
            let took = now() - began
            ownSearches.withLock {
                $0.count += 1
                $0.time = $0.time + took
            }
            return found.withLock { $0 }
        }
        let searched = ownSearches.withLock { $0 }
        var calls = searched.count
        let purchaseSchedule = Schedule(intended: schedule.intended + searched.time, started: now())
        guard let phone = candidate else {
            // An interrupted run's worker is handed no number (``CandidatePool``): no purchase missing a candidate.
            if Task.isCancelled { return calls }
            recorder.record(
                stripe: stripe, operation: .purchase, intended: purchaseSchedule.intended, end: now(),
                outcome: LatencyRecorder.noCandidate, wireBytes: nil)
            return calls
        }
        var numberId: String?
        var failure: (any Error)?
        calls += 1
        let request = PurchaseNumbersRequest(accountId: account.id, country: country, numbers: [phone], type: .local)
        await measure(.purchase, stripe: stripe, schedule: purchaseSchedule) {
            do {
                numberId = try await client.purchaseNumbers(request, options: options).numbers.first?.number.id
            } catch {
                failure = error
                throw error
            }
        }
        guard let numberId else {
            // A purchase whose outcome is open may have bought the number: settled after the run, not offered again.
            if let failure, leftovers.purchaseFailed(failure, request: request, metadata: account.metadata) {
                return calls
            }
            // A number numberd will not sell now (taken, or held back while a voided purchase of it may still land)
            // is not offered to the next purchase: it was, at each refill, one steady error more.
            if (failure as? RPCError)?.reason == "NUMBER_UNAVAILABLE" { return calls }
            candidates.returned(phone)
            return calls
        }
        calls += 1
        failure = nil
        await measure(.release, stripe: stripe, schedule: schedule) {
            do {
                _ = try await client.releaseNumber(
                    ReleaseNumberRequest(accountId: account.id, numberId: numberId), options: options)
            } catch {
                failure = error
                throw error
            }
        }
        if let failure, !Leftovers.isGone(failure) {
            // Still owned (or in doubt): released again after the run, and not offered to another purchase meanwhile.
            leftovers.releaseFailed(accountId: account.id, numberId: numberId)
            return calls
        }
        candidates.returned(phone)
        return calls
    }

    /// Runs one call and records its latency from when it was due (`schedule`) and its outcome; returns whether it
    /// succeeded. An OK call counts the operation's sampled sizes on the wire (a `candidateSearch`, its own).
    @discardableResult
    private func measure(
        _ operation: Operation, stripe: Int, schedule: Schedule, candidateSearch: Bool = false,
        _ body: () async throws -> Void
    ) async -> Bool {
        let due = schedule.due(sentAt: now())
        let outcome: String
        do {
            try await body()
            outcome = "OK"
        } catch let error as RPCError {
            // The harness's own cancellation of the calls in flight when a signal interrupts the run: not the
            // server's failure (an interrupted run counted them as errors, CANCELLED, with the CPU-per-call warning
            // that failed calls bring); left out of the figures, as calls due after the window are.
            if error.code == .cancelled, Task.isCancelled { return false }
            outcome = error.reason.isEmpty ? error.code.name : "\(error.code.name)/\(error.reason)"
        } catch {
            outcome = "CLIENT_ERROR"
        }
        // A failed call's answer is not the sampled one (an error's trailers): its bytes would skew the average the
        // raw baseline sends.
        recorder.record(
            stripe: stripe, operation: operation, intended: due, end: now(), outcome: outcome,
            wireBytes: outcome != "OK" ? nil : candidateSearch ? wireSizes.candidateSearch : wireSizes[operation])
        return outcome == "OK"
    }
}

/// Frame bytes on the wire per call of each operation (request: HEADERS + MESSAGE; response: MESSAGE + TRAILERS),
/// measured on a sample call; TLS record overhead not included.
struct WireSizes: Sendable {
    var sizes: [Operation: (request: Int, response: Int)] = [:]
    /// A purchase's candidate search (``WorkloadRunner/candidateSearchLimit`` results, not the mix's search's
    /// ``WorkloadRunner/searchLimit``): counted at the mix's size, it read about half its response bytes.
    var candidateSearch: (request: Int, response: Int)?

    /// The sampled sizes, nil for an operation that was not sampled (purchase and release): such calls stay out of
    /// the average bytes per call instead of counting as zero bytes.
    subscript(operation: Operation) -> (request: Int, response: Int)? { sizes[operation] }
}
