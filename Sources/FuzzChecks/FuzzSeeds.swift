import Foundation
import NIOCore
import NumberAPI
import NumberCore
import NumberWire

/// Hand-made seed inputs for each target: the golden byte sequences of FRAMING.md, one valid body per request
/// type, journal lines and a snapshot of real events. Written to `Tests/FuzzCorpus/<target>/seed-*` by
/// `swift run FuzzX --write-seeds DIR`, and replayed by FuzzReplayTests straight from here as well.
public enum FuzzSeeds {
    /// The named seeds of `target`.
    public static func seeds(for target: FuzzTarget) -> [(name: String, bytes: [UInt8])] {
        switch target {
        case .frameDecoder: return frameSeeds()
        case .messageDecoder: return messageSeeds()
        case .journalRecord: return journalSeeds()
        case .snapshot: return snapshotSeeds()
        }
    }

    // MARK: frames

    static func frameSeeds() -> [(name: String, bytes: [UInt8])] {
        var call = ByteBuffer()
        Preface.write(to: &call)
        call.writeFrame(Frame(type: .settings, streamID: 0, payload: ConnectionSettings.defaults.payload()))
        call.writeFrame(Frame(type: .settings, flags: .ack, streamID: 0))
        call.writeFrame(Frame(type: .headers, streamID: 1, payload: encoded(headers)))
        call.writeFrame(
            Frame(
                type: .message, flags: .endStream, streamID: 1, payload: encoded(GetBalanceRequest(accountId: "ACC_1")))
        )
        call.writeFrame(Frame(type: .ping, streamID: 0, payload: ByteBuffer(bytes: [1, 2, 3, 4, 5, 6, 7, 8])))
        call.writeFrame(Frame(type: .cancel, streamID: 1))
        call.writeFrame(Frame(type: .goAway, streamID: 0, payload: GoAway(lastStreamID: 1, code: .noError).payload()))

        var server = ByteBuffer()
        server.writeFrame(Frame(type: .settings, streamID: 0))
        server.writeFrame(Frame(type: .message, streamID: 1, payload: encoded(GetBalanceResponse(accountId: "ACC_1"))))
        server.writeFrame(
            Frame(
                type: .trailers, streamID: 1,
                payload: encoded(RpcStatus(code: 5, message: "no account", reason: "ACCOUNT_NOT_FOUND"))))
        server.writeFrame(
            Frame(
                type: .goAway, streamID: 0,
                payload: GoAway(lastStreamID: 7, code: .enhanceYourCalm, message: "too many pings").payload()))

        let tooLarge: [UInt8] = [0x80, 0, 0, 0, 0x02, 0x01, 0, 0, 0, 0, 0, 1]
        return [
            ("seed-client-call", [1, 0] + bytes(call)),
            ("seed-client-call-chunked-7", [1, 7] + bytes(call)),
            ("seed-server-frames-small-limits", [2, 3] + bytes(server)),
            ("seed-length-2-pow-31", [1, 0] + Array(bytes(call).prefix(8 + 12 + 24)) + tooLarge),
            ("seed-bad-preface", [1, 0] + Array("GET / HTTP/1.1\r\n\r\n".utf8)),
            ("seed-version-2", [1, 1, 0x4E, 0x52, 0x50, 0x43, 0, 2, 0, 0]),
        ]
    }

    static let headers = RequestHeaders(
        method: NumbersMethods.getBalance.path, timeoutMicros: 5_000_000,
        metadata: ["authorization": "Bearer nk_test", "request-id": "req-1"])

    // MARK: messages

    static func messageSeeds() -> [(name: String, bytes: [UInt8])] {
        let bodies: [[UInt8]] = [
            encodedBytes(
                SearchNumbersRequest(
                    accountId: "ACC_1", country: "US", type: NumberType(rawValue: 1), areaCode: "415",
                    requiredCapabilities: Capabilities(), limit: 5)),
            encodedBytes(
                PurchaseNumbersRequest(
                    accountId: "ACC_1", country: "US", numbers: ["+14155550100", "+14155550101"], voice: true,
                    currency: "USD", trunkId: "TRK_1")),
            encodedBytes(ListNumbersRequest(accountId: "ACC_1", trunkId: "", pageSize: 50, pageToken: "abc")),
            encodedBytes(GetNumberRequest(accountId: "ACC_1", numberId: "NUM_1")),
            encodedBytes(UpdateNumberRequest(accountId: "ACC_1", numberId: "NUM_1", assignTrunkId: "TRK_1")),
            encodedBytes(ReleaseNumberRequest(accountId: "ACC_1", numberId: "NUM_1", dryRun: true)),
            encodedBytes(GetBalanceRequest(accountId: "ACC_1")),
            encodedBytes(AddFundsRequest(accountId: "ACC_1", amount: 10_000, currency: "USD", description: "top-up")),
            encodedBytes(ListTransactionsRequest(accountId: "ACC_1", pageSize: 10)),
            encodedBytes(CreateTrunkRequest(accountId: "ACC_1", name: "main", providerTrunkSid: "TK0123")),
            encodedBytes(ListTrunksRequest(accountId: "ACC_1")),
            encodedBytes(DeleteTrunkRequest(accountId: "ACC_1", trunkId: "TRK_1")),
            encodedBytes(CreateAccountRequest(name: "Acme", currency: "USD")),
            encodedBytes(GetAccountRequest(accountId: "ACC_1")),
            encodedBytes(ListAccountsRequest(pageSize: 20, pageToken: "x")),
            encodedBytes(CreateApiKeyRequest(accountId: "ACC_1", scope: KeyScope(rawValue: 2), name: "ci")),
            encodedBytes(ListApiKeysRequest(accountId: "ACC_1")),
            encodedBytes(RevokeApiKeyRequest(keyId: "KEY_1")),
            encodedBytes(HealthCheckRequest()),
            encodedBytes(headers),
            encodedBytes(
                RpcStatus(
                    code: 9, message: "insufficient", reason: "INSUFFICIENT_BALANCE", metadata: ["shortfall": "5"])),
            encodedBytes(AdjustBalanceRequest(accountId: "ACC_1", amount: -250, currency: "USD", reason: "correction")),
            encodedBytes(
                GetStatementRequest(
                    accountId: "ACC_1", startTime: Date(timeIntervalSince1970: 1_764_547_200),
                    endTime: Date(timeIntervalSince1970: 1_767_225_600))),
            encodedBytes(SetAccountStatusRequest(accountId: "ACC_1", status: AccountStatus(rawValue: 2))),
            encodedBytes(CreateBackupRequest()),
            encodedBytes(GetProviderAuditRequest()),
            encodedBytes(RunProviderAuditRequest()),
            encodedBytes(
                AdoptNumberRequest(
                    accountId: "ACC_1", phoneNumber: "+14155550100", country: "US", type: NumberType(rawValue: 1),
                    trunkId: "TRK_1", charge: AdoptionCharge(rawValue: 2), maxMonthlyFee: 150, maxSetupFee: 0)),
        ]
        precondition(bodies.count == MessageDecoderCheck.kinds.count, "one seed per message type")
        return bodies.enumerated().map { index, body in
            ("seed-\(MessageDecoderCheck.kinds[index].name)", [UInt8(index)] + body)
        }
    }

    // MARK: journal and snapshot

    static let at = Date(timeIntervalSince1970: 1_764_385_200.123)
    static let account = NumberCore.Account(
        id: "ACC_0123456789ab", name: "Acme \"Ltd\"\u{e9}", currency: "USD", createdAt: at)
    static let key = NumberCore.ApiKey(
        id: "KEY_0123456789ab", name: "ci", scope: .account, accountId: account.id,
        secretHash: String(repeating: "ab", count: 32), createdAt: at)
    static let trunk = NumberCore.Trunk(
        id: "TRK_0123456789ab", accountId: account.id, name: "main",
        providerTrunkSid: "TK" + String(repeating: "0", count: 32),
        createdAt: at)
    static let funds = LedgerTransaction(
        id: "TXN_0123456789ab", accountId: account.id, kind: .fundsAdded, amount: 10_000, balanceAfter: 10_000,
        currency: "USD", numberId: nil, description: "top-up", createdAt: at, idempotencyKey: "k-1")

    /// A valid history: applying it to an empty state trips no precondition.
    static let events: [CoreEvent] = [
        .accountCreated(account), .apiKeyCreated(key), .trunkCreated(trunk), .transactionPosted(funds),
        .accountStatusChanged(accountId: account.id, status: .suspended), .apiKeyRevoked(keyId: key.id, at: at),
        .idempotencyExpired(storageKeys: [account.id + "\u{1F}k-0"]),
    ]

    static func journalSeeds() -> [(name: String, bytes: [UInt8])] {
        var segment: [UInt8] = []
        for (index, event) in events.enumerated() {
            segment += JournalCodec.recordLine(
                seq: UInt64(index + 1), time: 1_764_385_200_123, eventsJSON: json([event]))
        }
        let single = json(events)
        // Store format 2: records 1–3 one batch, 4–7 the last; then the last batch with a zeroed stretch (a power cut).
        var batched: [UInt8] = []
        for (index, event) in events.enumerated() {
            let seq = UInt64(index + 1)
            batched += JournalCodec.recordLine(
                seq: seq, time: 1_764_385_200_123,
                batch: seq <= 3 ? RecordBatch(first: 1, last: 3) : RecordBatch(first: 4, last: 7),
                eventsJSON: json([event]))
        }
        var powerCut = batched
        for index in (batched.count - 300)..<(batched.count - 250) { powerCut[index] = 0 }
        return [
            ("seed-segment", [0] + segment),
            ("seed-segment-torn-tail", [0] + segment.dropLast(9)),
            ("seed-segment-batches", [0] + batched),
            ("seed-segment-power-cut", [0] + powerCut),
            ("seed-events-all", [1] + single),
            ("seed-events-trunk-deleted", [1] + json([CoreEvent.trunkDeleted(trunkId: trunk.id)])),
            (
                "seed-events-adoption-route",
                [1] + json([adoptionRoute, .adoptionRouteEnded(phoneNumber: "+14155550100")])
            ),
            ("seed-events-empty", [1] + Array("[]".utf8)),
        ]
    }

    /// An adoption's routing of a number to the trunk (store format 9).
    static let adoptionRoute = CoreEvent.adoptionRouteRequested(
        AdoptionRouteRequest(phoneNumber: "+14155550100", accountId: account.id, trunkId: trunk.id, at: at))

    static func snapshotSeeds() -> [(name: String, bytes: [UInt8])] {
        var state = CoreState()
        state.apply(events + [adoptionRoute])
        let stateJSON = json(state)
        return [
            (
                "seed-snapshot-file",
                [0] + JournalCodec.snapshotLine(seq: 1, time: 1_764_385_200_123, stateJSON: stateJSON)
            ),
            ("seed-state", [1] + stateJSON),
            ("seed-state-empty", [1] + json(CoreState())),
        ]
    }

    // MARK: helpers

    static func encoded(_ message: some Encodable) -> ByteBuffer { ByteBuffer(bytes: encodedBytes(message)) }

    static func encodedBytes(_ message: some Encodable) -> [UInt8] {
        do {
            return try ProtoEncoder().encode(message)
        } catch {
            preconditionFailure("seed message does not encode: \(error)")
        }
    }

    static func json(_ value: some Encodable) -> [UInt8] {
        do {
            return try JournalCodec.encodeJSON(value)
        } catch {
            preconditionFailure("seed value does not encode: \(error)")
        }
    }

    static func bytes(_ buffer: ByteBuffer) -> [UInt8] { Array(buffer.readableBytesView) }
}
