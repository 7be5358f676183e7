import NIOCore
import NumberAPI
import NumberClient
import Synchronization
import Testing

@testable import numbers_load

/// A numberd stand-in that owns what it sells: a purchase under an idempotency key buys once (a retry with the key
/// answers the first result), and the first attempts can be told to fail after doing their work, as a deadline or a
/// lost connection leaves them.
final class OwningLoadClient: LoadClient {
    struct State {
        var owned: Set<String> = []
        var revoked: [String] = []
        var keysToFail = 0
        var byKey: [String: String] = [:]
        var purchasesToLose = 0
        var releasesToFail = 0
        /// A lost purchase never reached numberd (nothing bought, no key kept).
        var lostNeverArrive = false
    }
    let state: Mutex<State>

    init(purchasesToLose: Int, releasesToFail: Int) {
        state = Mutex(State(purchasesToLose: purchasesToLose, releasesToFail: releasesToFail))
    }

    var owned: Set<String> { state.withLock { $0.owned } }

    func searchNumbers(_ request: SearchNumbersRequest, options: CallOptions) async throws -> SearchNumbersResponse {
        SearchNumbersResponse(numbers: (0..<3).map { AvailableNumber(phoneNumber: "+1415555020\($0)") })
    }

    func purchaseNumbers(
        _ request: PurchaseNumbersRequest, options: CallOptions
    ) async throws -> PurchaseNumbersResponse {
        // The client library gives every purchase a key; the harness's first attempt leaves it to the library.
        let key = options.idempotencyKey ?? "key-\(request.numbers[0])"
        let (id, lose, replayed) = state.withLock { state -> (String, Bool, Bool) in
            let lose = state.purchasesToLose > 0
            if lose { state.purchasesToLose -= 1 }
            let replayed = state.byKey[key] != nil
            let id = state.byKey[key] ?? "NUM_\(request.numbers[0])"
            if !replayed, !(lose && state.lostNeverArrive) {
                state.byKey[key] = id
                state.owned.insert(id)
            }
            return (id, lose, replayed)
        }
        if lose {
            throw RPCError(
                code: .deadlineExceeded, message: "deadline", reason: "DEADLINE_EXCEEDED",
                details: ["outcome": "unknown", "idempotencyKey": key])
        }
        return PurchaseNumbersResponse(
            numbers: [PurchasedNumber(number: PhoneNumber(id: id, phoneNumber: request.numbers[0]))],
            replayed: replayed)
    }

    func listNumbers(_ request: ListNumbersRequest, options: CallOptions) async throws -> ListNumbersResponse {
        ListNumbersResponse()
    }

    func getNumber(_ request: GetNumberRequest, options: CallOptions) async throws -> GetNumberResponse {
        GetNumberResponse()
    }

    func releaseNumber(_ request: ReleaseNumberRequest, options: CallOptions) async throws -> ReleaseNumberResponse {
        let outcome = state.withLock { state -> RPCError? in
            if state.releasesToFail > 0 {
                state.releasesToFail -= 1
                return RPCError(code: .unavailable, message: "lost", reason: "CONNECTION_LOST")
            }
            guard state.owned.remove(request.numberId) != nil else {
                return RPCError(code: .failedPrecondition, message: "released", reason: "ALREADY_RELEASED")
            }
            return nil
        }
        if let outcome { throw outcome }
        return ReleaseNumberResponse()
    }

    func getBalance(_ request: GetBalanceRequest, options: CallOptions) async throws -> GetBalanceResponse {
        GetBalanceResponse()
    }

    var revoked: [String] { state.withLock { $0.revoked } }

    func revokeApiKey(_ request: RevokeApiKeyRequest, options: CallOptions) async throws -> RevokeApiKeyResponse {
        let fails = state.withLock { state -> Bool in
            if state.keysToFail > 0 {
                state.keysToFail -= 1
                return true
            }
            state.revoked.append(request.keyId)
            return false
        }
        if fails { throw RPCError(code: .unavailable, message: "lost", reason: "CONNECTION_LOST") }
        return RevokeApiKeyResponse()
    }

    func failKeyRevocations(_ count: Int) { state.withLock { $0.keysToFail = count } }
}

/// numbers-load bought numbers it never gave back: a purchase whose outcome a deadline or a lost connection left open
/// (numberd carries it through) was forgotten, a failed release too, and the fixture's own numbers stayed owned —
/// against a numberd with real Twilio credentials, each is paid every month. Now they are settled after the run.
@Suite("numbers-load leaves nothing bought behind")
struct LeftoversTests {
    let account = LoadAccount(id: "ACC_load0", authorization: "Bearer nk_test", numberIds: [])

    func runner(_ leftovers: Leftovers) -> WorkloadRunner {
        WorkloadRunner(
            recorder: LatencyRecorder(measureFrom: .now()), candidates: CandidatePool(), leftovers: leftovers,
            wireSizes: WireSizes(), country: "US", timeout: .seconds(5))
    }

    @Test("a purchase in doubt is asked again under its key and released; a failed release is tried again")
    func inDoubtAndFailedReleasesAreSettled() async {
        let leftovers = Leftovers()
        let client = OwningLoadClient(purchasesToLose: 1, releasesToFail: 1)
        var random = FastRandom(seed: 1)
        let runner = runner(leftovers)
        // The first purchase is bought but its answer lost; the second is bought and its release fails.
        for _ in 0..<2 {
            await runner.perform(
                .purchase, client: client, account: account, stripe: 0, intended: .now(), random: &random)
        }
        #expect(client.owned.count == 2, "both numbers are owned when the measured window ends")
        #expect(leftovers.count == 2)
        let lines = Mutex<[String]>([])
        let left = await leftovers.settle(client: client) { line in lines.withLock { $0.append(line) } }
        #expect(left.isEmpty, "\(left)")
        #expect(client.owned.isEmpty)
        #expect(leftovers.count == 0)
        #expect(lines.withLock { $0 }.isEmpty, "a replay is no new purchase: \(lines.withLock { $0 })")
    }

    @Test(
        "a purchase in doubt that never reached numberd: asking again buys it, which the clean-up says, then releases")
    func inDoubtNeverArrived() async {
        let leftovers = Leftovers()
        let client = OwningLoadClient(purchasesToLose: 1, releasesToFail: 0)
        client.state.withLock { $0.lostNeverArrive = true }
        var random = FastRandom(seed: 1)
        await runner(leftovers).perform(
            .purchase, client: client, account: account, stripe: 0, intended: .now(), random: &random)
        #expect(client.owned.isEmpty && leftovers.count == 1)
        let lines = Mutex<[String]>([])
        let left = await leftovers.settle(client: client) { line in lines.withLock { $0.append(line) } }
        #expect(left.isEmpty && client.owned.isEmpty, "\(left)")
        #expect(lines.withLock { $0 }.contains { $0.contains("never took effect") }, "\(lines.withLock { $0 })")
    }

    @Test("the set-up's numbers are released and its keys revoked; a number already released counts as given back")
    func setUpIsGivenBack() async {
        let leftovers = Leftovers()
        let client = OwningLoadClient(purchasesToLose: 0, releasesToFail: 0)
        let bought = try? await client.purchaseNumbers(
            PurchaseNumbersRequest(numbers: ["+14155550300"]), options: CallOptions())
        let id = bought?.numbers.first?.number.id ?? ""
        leftovers.bought([id, id], accountId: account.id)
        leftovers.madeKey("KEY_a")
        leftovers.madeKey("KEY_b")
        #expect(await leftovers.settle(client: client) { _ in }.isEmpty)
        #expect(client.owned.isEmpty)
        #expect(client.revoked == ["KEY_a", "KEY_b"])
    }

    /// A purchase of the set-up (made with the admin key, no account key) whose answer is lost: asked again with the
    /// same key and no account authorization, then released.
    @Test("a set-up purchase in doubt is settled under the admin key")
    func setUpPurchaseInDoubt() async {
        let leftovers = Leftovers()
        let client = OwningLoadClient(purchasesToLose: 1, releasesToFail: 0)
        let request = PurchaseNumbersRequest(accountId: account.id, numbers: ["+14155550302"])
        do {
            _ = try await client.purchaseNumbers(request, options: CallOptions())
            Issue.record("the first purchase was to lose its answer")
        } catch {
            #expect(leftovers.purchaseFailed(error, request: request, metadata: [:]))
        }
        #expect(client.owned.count == 1)
        #expect(await leftovers.settle(client: client) { _ in }.isEmpty)
        #expect(client.owned.isEmpty)
    }

    @Test("settling stops at its deadline: what is left is reported, one line each")
    func deadlineLeavesLines() async {
        let leftovers = Leftovers()
        let client = OwningLoadClient(purchasesToLose: 0, releasesToFail: 0)
        leftovers.bought(["NUM_a", "NUM_b"], accountId: account.id)
        leftovers.madeKey("KEY_a")
        var lines: [String] = []
        let left = await leftovers.settle(client: client, deadline: .now() - .seconds(1)) { lines.append($0) }
        #expect(left.count == 3 && lines == left)
        #expect(client.revoked.isEmpty)
    }

    @Test("what cannot be settled is reported: a release and a key revocation failing every attempt")
    func unsettledIsReported() async {
        let leftovers = Leftovers()
        let client = OwningLoadClient(purchasesToLose: 0, releasesToFail: 100)
        client.failKeyRevocations(1)
        let bought = try? await client.purchaseNumbers(
            PurchaseNumbersRequest(numbers: ["+14155550301"]), options: CallOptions())
        leftovers.bought([bought?.numbers.first?.number.id ?? ""], accountId: account.id)
        leftovers.madeKey("KEY_a")
        var lines: [String] = []
        let left = await leftovers.settle(client: client) { lines.append($0) }
        #expect(left.count == 2 && lines == left, "\(left)")
        #expect(client.owned.count == 1)
    }
}
