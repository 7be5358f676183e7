import Foundation
import Testing
import TwilioSimulator

@testable import NumberCore

/// Trunks numberd creates at Twilio: found again by their name when Twilio's answer is lost, and recorded even when the
/// caller is gone. Found by a review of limits: a cancelled call, a short deadline or a lost answer left the trunk at
/// Twilio with nothing recorded (any account could repeat it at will, against the Twilio account's trunk limit).
@Suite("Trunk creation over the Twilio adapter: lost answers, callers gone")
struct TrunkCreationOverTwilioTests {
    private static func account(_ service: NumberService) async throws -> Account {
        try await service.createAccount(name: "Trunks", currency: "USD")
    }

    @Test("the name at Twilio is the trunk's id and its name, cut to 64 UTF-16 units without splitting a character")
    func providerName() {
        #expect(NumberService.providerTrunkName(id: "TRK_ABCDEFGHJKM", name: "Prod") == "TRK_ABCDEFGHJKM Prod")
        let flags = String(repeating: "🇫🇷", count: 40)
        let cut = NumberService.providerTrunkName(id: "TRK_ABCDEFGHJKM", name: flags)
        #expect(cut.utf16.count <= 64 && cut.utf16.count >= 61)
        #expect(cut == "TRK_ABCDEFGHJKM " + String(repeating: "🇫🇷", count: (64 - 16) / 4))
    }

    /// A trunk registered by its SID is fetched first (`GET /v1/Trunks/{Sid}`, whose 404 for an unknown SID Twilio
    /// documents): found, with its name; unknown, nil; a malformed SID refused before any request; an answer for
    /// another trunk, or one that is not JSON, UNAVAILABLE.
    @Test("the adapter fetches a trunk by SID: found with its name, nil for Twilio's 404, Twilio's mistakes refused")
    func adapterFetchesATrunk() async throws {
        try await withTwilio { twilio in
            let sid = try await twilio.createTrunk("console pbx")
            twilio.engine.clearRequestLog()
            let found = try await twilio.provider.trunk(sid: sid)
            #expect(found == ProviderTrunk(sid: sid, friendlyName: "console pbx"))
            let asked = try #require(twilio.requests(.fetchTrunk).first)
            #expect(asked.method == "GET" && asked.path.hasSuffix("/v1/Trunks/\(sid)"), "\(asked)")
            #expect(try await twilio.provider.trunk(sid: trunkSid(0xDEAD)) == nil)
            twilio.engine.clearRequestLog()
            await expectProviderError(.invalidArgument) { try await twilio.provider.trunk(sid: "TK../Trunks") }
            #expect(twilio.engine.requestLog.isEmpty)
            twilio.engine.addFault(FaultRule(endpoint: .fetchTrunk, kind: .malformedBodyAfterActing, times: 1))
            await expectProviderError(.unavailable) { try await twilio.provider.trunk(sid: sid) }
        }
    }

    /// One tenant creating trunks at will used up the Twilio account's trunk quota, which every tenant shares.
    @Test(
        "trunks numberd creates are limited per account, concurrent creations included; registered ones do not count"
    )
    func providerTrunkLimit() async throws {
        try await withTwilio { twilio in
            var config = NumberServiceConfig.defaults
            config.limits.providerTrunksPerAccountMax = 2
            let service = try await NumberService.open(
                store: InMemoryNumberStore(), provider: twilio.provider,
                clock: ManualClock(Date(timeIntervalSince1970: 1_736_937_000)), config: config)
            let account = try await Self.account(service)
            let other = try await service.createAccount(name: "Other", currency: "USD")
            // Three at once, each slowed at Twilio: two are made, the third is refused before it asks Twilio.
            twilio.engine.addFault(FaultRule(endpoint: .createTrunk, kind: .latency(milliseconds: 200), times: 3))
            let outcomes = await withTaskGroup(of: NumberError?.self) { group in
                for name in ["a", "b", "c"] {
                    group.addTask {
                        await numberError {
                            _ = try await service.createManagedTrunk(accountId: account.id, name: name)
                        }
                    }
                }
                return await group.reduce(into: [NumberError?]()) { $0.append($1) }
            }
            #expect(outcomes.compactMap { $0?.reason } == [.limitExceeded], "\(outcomes)")
            #expect(outcomes.compactMap { $0?.details["max"] } == ["2"])
            #expect(twilio.engine.trunks.count == 2)
            #expect(twilio.requests(.createTrunk).count == 2, "the refused one asked Twilio nothing")
            let again = await numberError {
                _ = try await service.createManagedTrunk(accountId: account.id, name: "d")
            }
            #expect(again?.code == .resourceExhausted && again?.reason == .limitExceeded)
            // A trunk configured elsewhere, registered by its SID, takes nothing from the quota; nor does another tenant.
            let elsewhere = try await twilio.createTrunk("made in the console")
            _ = try await service.createTrunk(accountId: account.id, name: "elsewhere", providerTrunkSid: elsewhere)
            _ = try await service.createManagedTrunk(accountId: other.id, name: "theirs")
            #expect(twilio.engine.trunks.count == 4)
            // Deleting one makes room again.
            let first = try #require(try service.listTrunks(accountId: account.id).first { $0.providerManaged == true })
            try await service.deleteTrunk(accountId: account.id, trunkId: first.id)
            _ = try await service.createManagedTrunk(accountId: account.id, name: "e")
            #expect(try service.listTrunks(accountId: account.id).count == 3)
            #expect(service.durableState().checkInvariants() == [])
        }
    }

    /// Every tenant's trunks live on numberd's one Twilio account, whose trunk limit (100 by default) ten tenants at
    /// their own limit used up: every later CreateTrunk reached Twilio and came back INVALID_ARGUMENT / INVALID_FIELD.
    /// Here both limits are 3 (Twilio's and numberd's `providerTrunksMax`, set to it).
    @Test("at the Twilio account's trunk limit, numberd refuses a creation itself, LIMIT_EXCEEDED, before Twilio")
    func serviceWideTrunkLimit() async throws {
        var simulator = SimulatorConfiguration.defaults
        simulator.limits.trunksMax = 3
        try await withTwilio(simulatorConfiguration: simulator) { twilio in
            var config = NumberServiceConfig.defaults
            config.limits.providerTrunksPerAccountMax = 2
            config.limits.providerTrunksMax = 3
            let service = try await NumberService.open(
                store: InMemoryNumberStore(), provider: twilio.provider,
                clock: ManualClock(Date(timeIntervalSince1970: 1_736_937_000)), config: config)
            let first = try await Self.account(service)
            let second = try await service.createAccount(name: "Second", currency: "USD")
            let third = try await service.createAccount(name: "Third", currency: "USD")
            _ = try await service.createManagedTrunk(accountId: first.id, name: "a")
            _ = try await service.createManagedTrunk(accountId: first.id, name: "b")
            // A trunk the operator made at Twilio and registered by its SID fills the account's quota as well.
            let configured = try await twilio.provider.createTrunk(friendlyName: "configured elsewhere")
            _ = try await service.createTrunk(accountId: second.id, name: "c", providerTrunkSid: configured)
            #expect(twilio.engine.trunks.count == 3)
            let refused = await numberError {
                _ = try await service.createManagedTrunk(accountId: third.id, name: "d")
            }
            #expect(
                refused?.code == .resourceExhausted && refused?.reason == .limitExceeded,
                "\(String(describing: refused))")
            #expect(refused?.details["max"] == "3" && refused?.details["field"] == nil)
            #expect(twilio.requests(.createTrunk).count == 3, "Twilio was not asked")
            #expect(service.durableState().checkInvariants() == [])
        }
    }

    @Test("failed creations give their place in the limit back")
    func failedCreationsCountNothing() async throws {
        try await withTwilio { twilio in
            var config = NumberServiceConfig.defaults
            config.limits.providerTrunksPerAccountMax = 1
            let service = try await NumberService.open(
                store: InMemoryNumberStore(), provider: twilio.provider,
                clock: ManualClock(Date(timeIntervalSince1970: 1_736_937_000)), config: config)
            let account = try await Self.account(service)
            twilio.engine.addFault(
                FaultRule(
                    endpoint: .createTrunk,
                    kind: .error(TwilioError(status: 400, code: 21248, message: "Trunk Domain already taken")), times: 3
                ))
            for name in ["a", "b", "c"] {
                let error = await numberError {
                    _ = try await service.createManagedTrunk(accountId: account.id, name: name)
                }
                #expect(error != nil && error?.reason != .limitExceeded, "\(String(describing: error))")
            }
            #expect(service.local.withLock { $0.trunkCreations.isEmpty })
            _ = try await service.createManagedTrunk(accountId: account.id, name: "d")
            #expect(twilio.engine.trunks.count == 1)
        }
    }

    @Test("a creation whose answer is lost is found by its name and recorded: one trunk at Twilio, ours")
    func lostAnswerIsFound() async throws {
        try await withServiceOverTwilio { twilio, service, _, _ in
            let account = try await Self.account(service)
            twilio.engine.addFault(FaultRule(endpoint: .createTrunk, kind: .responseLost, times: 1))
            let trunk = try await service.createManagedTrunk(accountId: account.id, name: "Prod")
            #expect(twilio.engine.trunks.map(\.sid) == [trunk.providerTrunkSid])
            #expect(twilio.engine.trunks.first?.friendlyName == "\(trunk.id) Prod")
            #expect(twilio.requests(.listTrunks).count == 1)
            #expect(try service.listTrunks(accountId: account.id).map(\.id) == [trunk.id])
        }
    }

    @Test(
        "an answered 5xx after Twilio made it: found and recorded; one that made nothing: nothing recorded, retry works"
    )
    func serverErrorsAreSettledByTheList() async throws {
        try await withServiceOverTwilio { twilio, service, _, _ in
            let account = try await Self.account(service)
            twilio.engine.addFault(
                FaultRule(endpoint: .createTrunk, kind: .serverErrorAfterActing(.serviceUnavailable), times: 1))
            let made = try await service.createManagedTrunk(accountId: account.id, name: "A")
            #expect(twilio.engine.trunks.map(\.sid) == [made.providerTrunkSid])
            twilio.engine.addFault(
                FaultRule(endpoint: .createTrunk, kind: .serverErrorBeforeActing(.serviceUnavailable), times: 1))
            let error = await numberError {
                _ = try await service.createManagedTrunk(accountId: account.id, name: "B")
            }
            #expect(error?.reason == .providerUnavailable, "\(String(describing: error))")
            #expect(twilio.engine.trunks.count == 1)
            #expect(try service.listTrunks(accountId: account.id).map(\.name) == ["A"])
            _ = try await service.createManagedTrunk(accountId: account.id, name: "B")
            #expect(twilio.engine.trunks.count == 2)
        }
    }

    @Test("a 2xx whose body cannot be read: the trunk was made, found by its name and recorded")
    func unreadableAnswerIsFound() async throws {
        try await withServiceOverTwilio { twilio, service, _, _ in
            let account = try await Self.account(service)
            twilio.engine.addFault(FaultRule(endpoint: .createTrunk, kind: .malformedBodyAfterActing, times: 1))
            let trunk = try await service.createManagedTrunk(accountId: account.id, name: "Prod")
            #expect(twilio.engine.trunks.map(\.sid) == [trunk.providerTrunkSid])
        }
    }

    @Test("no answer and no trunk at Twilio yet: an unknown outcome (it may still land), not 'nothing made'")
    func noAnswerAndNotFoundIsUnknown() async throws {
        try await withServiceOverTwilio { twilio, service, _, _ in
            let account = try await Self.account(service)
            twilio.engine.addFault(FaultRule(endpoint: .createTrunk, kind: .connectionReset, times: 1))
            let error = await numberError {
                _ = try await service.createManagedTrunk(accountId: account.id, name: "Prod")
            }
            #expect(error?.reason == .outcomeUnknown, "\(String(describing: error))")
            #expect(twilio.requests(.listTrunks).count == 1)
            #expect(try service.listTrunks(accountId: account.id).isEmpty && twilio.engine.trunks.isEmpty)
        }
    }

    @Test("a lost answer whose look-up fails too: an unknown outcome, nothing recorded")
    func lookUpFailing() async throws {
        try await withServiceOverTwilio { twilio, service, _, _ in
            let account = try await Self.account(service)
            twilio.engine.addFault(FaultRule(endpoint: .createTrunk, kind: .responseLost, times: 1))
            twilio.engine.addFault(
                FaultRule(endpoint: .listTrunks, kind: .serverErrorBeforeActing(.serviceUnavailable)))
            let error = await numberError {
                _ = try await service.createManagedTrunk(accountId: account.id, name: "Prod")
            }
            #expect(error?.reason == .outcomeUnknown, "\(String(describing: error))")
            #expect(try service.listTrunks(accountId: account.id).isEmpty)
            #expect(twilio.engine.trunks.count == 1, "made at Twilio; logged with its name for the operator")
        }
    }

    @Test("a caller gone while Twilio creates the trunk: the creation runs to its end and the trunk is recorded")
    func cancelledCallerStillRecords() async throws {
        try await withServiceOverTwilio { twilio, service, _, _ in
            let account = try await Self.account(service)
            // Twilio makes the trunk, then holds its answer for 2 s: the caller goes away meanwhile.
            twilio.engine.addFault(
                FaultRule(endpoint: .createTrunk, kind: .stallAfterActing(milliseconds: 2_000), times: 1))
            let call = Task {
                try await service.createManagedTrunk(accountId: account.id, name: "Prod")
            }
            let deadline = ContinuousClock.now + .seconds(60)
            while twilio.engine.trunks.isEmpty, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
            call.cancel()
            _ = try? await call.value
            while (try service.listTrunks(accountId: account.id)).isEmpty, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            let recorded = try service.listTrunks(accountId: account.id)
            #expect(recorded.map(\.providerTrunkSid) == twilio.engine.trunks.map(\.sid) && recorded.count == 1)
        }
    }
}

extension TrunkCreationOverTwilioTests {
    @Test(
        "a trunk made at Twilio whose record finds no room is deleted there (STORE_FULL), or, left there, an unknown outcome"
    )
    func recordWithoutRoom() async throws {
        try await withServiceOverTwilio { twilio, service, _, store in
            let account = try await Self.account(service)
            store.refuseForRoom()
            let refused = await numberError {
                _ = try await service.createManagedTrunk(accountId: account.id, name: "A")
            }
            #expect(refused?.reason == .storeFull, "\(String(describing: refused))")
            #expect(twilio.engine.trunks.isEmpty, "deleted at Twilio: nothing was changed, as the error says")

            store.refuseForRoom()
            twilio.engine.addFault(FaultRule(endpoint: .deleteTrunk, kind: .error(.authenticate), times: 1))
            let unknown = await numberError {
                _ = try await service.createManagedTrunk(accountId: account.id, name: "B")
            }
            #expect(
                unknown?.code == .unavailable && unknown?.reason == .outcomeUnknown, "\(String(describing: unknown))")
            #expect(twilio.engine.trunks.count == 1 && unknown?.details["trunkSid"] == twilio.engine.trunks.first?.sid)
            #expect(try service.listTrunks(accountId: account.id).isEmpty)
        }
    }
}

/// A trunk numberd created at Twilio had no Origination URL, so its numbers rang nowhere and the customer could not
/// configure it (the trunk is on numberd's Twilio account). The creation now sets one before it records the trunk, and
/// a trunk whose origination Twilio does not set is deleted there again, as one whose record fails.
extension TrunkCreationOverTwilioTests {
    @Test("the trunk gets its Origination URL at Twilio, every field Twilio's schema requires, and records the URI")
    func originationIsSet() async throws {
        try await withServiceOverTwilio { twilio, service, _, _ in
            let account = try await Self.account(service)
            let trunk = try await service.createManagedTrunk(
                accountId: account.id, name: "Prod", origination: "SIP:pbx.example.com:5061;transport=tls")
            let uri = "sip:pbx.example.com:5061;transport=tls"
            #expect(trunk.originationSipUri == uri && trunk.providerManaged == true)
            let sent = try #require(twilio.requests(.createOriginationUrl).first)
            #expect(twilio.requests(.createOriginationUrl).count == 1 && sent.status == 201)
            #expect(sent.method == "POST" && sent.path == "/v1/Trunks/\(trunk.providerTrunkSid)/OriginationUrls")
            #expect(
                sent.form == [
                    "SipUrl": uri, "FriendlyName": "\(trunk.id) Prod", "Weight": "10", "Priority": "10",
                    "Enabled": "true",
                ])
            let routes = try #require(twilio.engine.trunks.first?.originationUrls)
            #expect(routes.map(\.sipUrl) == [uri] && routes.allSatisfy { $0.enabled })
            #expect(try service.listTrunks(accountId: account.id).map(\.originationSipUri) == [uri])
            #expect(service.durableState().trunks[trunk.id]?.originationSipUri == uri)
        }
    }

    @Test("Twilio refusing the origination: the trunk is deleted there, nothing recorded, the field named")
    func refusedOriginationDeletesTheTrunk() async throws {
        try await withServiceOverTwilio { twilio, service, _, _ in
            let account = try await Self.account(service)
            twilio.engine.addFault(
                FaultRule(
                    endpoint: .createOriginationUrl, kind: .error(.invalidParameter("SipUrl", "unroutable")), times: 1))
            let refused = await numberError {
                _ = try await service.createManagedTrunk(accountId: account.id, name: "Prod")
            }
            #expect(
                refused?.code == .invalidArgument && refused?.reason == .invalidField, "\(String(describing: refused))")
            #expect(refused?.details["field"] == "origination_sip_uri")
            #expect(twilio.requests(.createTrunk).count == 1 && twilio.requests(.deleteTrunk).count == 1)
            #expect(twilio.engine.trunks.isEmpty, "no trunk that rings nowhere left at Twilio")
            #expect(try service.listTrunks(accountId: account.id).isEmpty)
            #expect(service.local.withLock { $0.trunkCreations.isEmpty && $0.trunksInFlight.isEmpty })
            // Nothing was changed: the same creation goes through once Twilio takes the URI.
            let trunk = try await service.createManagedTrunk(accountId: account.id, name: "Prod")
            #expect(twilio.engine.trunks.map(\.sid) == [trunk.providerTrunkSid])
        }
    }

    @Test("an origination whose answer is lost: the trunk (and any route made) deleted, PROVIDER_UNAVAILABLE")
    func lostOriginationDeletesTheTrunk() async throws {
        try await withServiceOverTwilio { twilio, service, _, _ in
            let account = try await Self.account(service)
            twilio.engine.addFault(FaultRule(endpoint: .createOriginationUrl, kind: .responseLost, times: 1))
            let error = await numberError {
                _ = try await service.createManagedTrunk(accountId: account.id, name: "Prod")
            }
            #expect(
                error?.code == .unavailable && error?.reason == .providerUnavailable, "\(String(describing: error))")
            #expect(twilio.requests(.createOriginationUrl).first?.acted == true, "Twilio made the route")
            #expect(twilio.engine.trunks.isEmpty && twilio.requests(.deleteTrunk).count == 1)
            #expect(try service.listTrunks(accountId: account.id).isEmpty)
        }
    }

    @Test("an origination that fails and a trunk that cannot be deleted either: an unknown outcome naming its SID")
    func originationAndDeletionFailing() async throws {
        try await withServiceOverTwilio { twilio, service, _, _ in
            let account = try await Self.account(service)
            twilio.engine.addFault(
                FaultRule(endpoint: .createOriginationUrl, kind: .serverErrorBeforeActing(.internalError), times: 1))
            twilio.engine.addFault(FaultRule(endpoint: .deleteTrunk, kind: .error(.authenticate), times: 1))
            let unknown = await numberError {
                _ = try await service.createManagedTrunk(accountId: account.id, name: "Prod")
            }
            #expect(
                unknown?.code == .unavailable && unknown?.reason == .outcomeUnknown, "\(String(describing: unknown))")
            #expect(twilio.engine.trunks.count == 1 && unknown?.details["trunkSid"] == twilio.engine.trunks.first?.sid)
            #expect(twilio.engine.trunks.first?.originationUrls ?? [] == [], "left at Twilio without a route")
            #expect(try service.listTrunks(accountId: account.id).isEmpty)
        }
    }

    @Test("a bad origination SIP URI asks Twilio nothing")
    func invalidOriginationAsksNothing() async throws {
        try await withServiceOverTwilio { twilio, service, _, _ in
            let account = try await Self.account(service)
            for uri in ["", "sips:pbx.example.com", "sip:pbx.example.com:99999"] {
                let error = await numberError {
                    _ = try await service.createManagedTrunk(accountId: account.id, name: "Prod", origination: uri)
                }
                #expect(error?.code == .invalidArgument && error?.details["field"] == "origination_sip_uri")
            }
            #expect(twilio.engine.requestLog.isEmpty)
        }
    }
}
