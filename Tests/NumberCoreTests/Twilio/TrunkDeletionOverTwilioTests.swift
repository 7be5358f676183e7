import Foundation
import Testing

@testable import NumberCore
@testable import TwilioSimulator

/// Deleting a trunk numberd made at Twilio takes it off every number Twilio routes to it, which then ring nowhere.
/// numberd's own records and the trunk changes it knows may still land refuse it first, but a restart forgets those,
/// a crash between a change at Twilio and its record leaves no trace, and Twilio's console can route a number there:
/// DeleteTrunk asks Twilio for the trunk's numbers before deleting it.
@Suite("Trunk deletion over the Twilio adapter: the numbers Twilio routes to the trunk are asked for first")
struct TrunkDeletionOverTwilioTests {
    /// Buys `count` numbers at the simulator straight through the adapter (no account holds them) on `trunkSid`.
    private static func routed(
        _ twilio: TwilioSimulatorFixture, count: Int, to trunkSid: String
    ) async throws
        -> [String]
    {
        let found = try await twilio.provider.search(
            ProviderSearchQuery(country: "US", areaCode: "415", limit: count))
        try #require(found.count == count)
        for candidate in found {
            _ = try await twilio.provider.buy(phoneNumber: candidate.phoneNumber, trunkSid: trunkSid)
        }
        return found.map(\.phoneNumber)
    }

    @Test("the adapter lists the numbers Twilio routes to a trunk, one page of at most `max`, and checks its input")
    func adapterListsATrunksNumbers() async throws {
        try await withTwilio { twilio in
            let sid = try await twilio.createTrunk("pbx")
            let other = try await twilio.createTrunk("other")
            #expect(try await twilio.provider.phoneNumbers(onTrunk: sid, max: 20) == [])
            let numbers = try await Self.routed(twilio, count: 3, to: sid)
            _ = try await Self.routed(twilio, count: 1, to: other)
            let listed = try await twilio.provider.phoneNumbers(onTrunk: sid, max: 20)
            #expect(Set(listed) == Set(numbers) && listed.count == 3, "\(listed)")
            let largest = try await twilio.provider.phoneNumbers(onTrunk: sid, max: TwilioProvider.trunkNumbersPageMax)
            #expect(Set(largest) == Set(numbers), "the largest page asked for is accepted")
            // One page of `max`, asked for as Twilio's PageSize.
            twilio.engine.clearRequestLog()
            let two = try await twilio.provider.phoneNumbers(onTrunk: sid, max: 2)
            #expect(two.count == 2 && Set(two).isSubset(of: Set(numbers)))
            let asked = try #require(twilio.requests(.listTrunkNumbers).first)
            #expect(
                asked.method == "GET" && asked.path.hasSuffix("/v1/Trunks/\(sid)/PhoneNumbers")
                    && asked.query.contains("PageSize=2"), "\(asked)")
            #expect(twilio.requests(.listTrunkNumbers).count == 1)
            // A trunk Twilio does not have: NOT_FOUND, which DeleteTrunk reads as routing nothing.
            await expectProviderError(.notFound) {
                try await twilio.provider.phoneNumbers(onTrunk: trunkSid(0xDEAD), max: 20)
            }
            // Refused before any request: a malformed SID (it goes into the path) and a page size Twilio has not.
            twilio.engine.clearRequestLog()
            await expectProviderError(.invalidArgument) {
                try await twilio.provider.phoneNumbers(onTrunk: "TK../Trunks", max: 20)
            }
            for size in [0, TwilioProvider.trunkNumbersPageMax + 1] {
                await expectProviderError(.invalidArgument) {
                    try await twilio.provider.phoneNumbers(onTrunk: sid, max: size)
                }
            }
            #expect(twilio.engine.requestLog.isEmpty, "\(twilio.engine.requestLog)")
        }
    }

    @Test("an answer that is not the JSON expected, or a malformed SID or number in it, is refused: UNAVAILABLE")
    func adapterChecksTwilioAnswer() async throws {
        try await withTwilio { twilio in
            let sid = try await twilio.createTrunk("pbx")
            let numbers = try await Self.routed(twilio, count: 1, to: sid)
            twilio.engine.addFault(FaultRule(endpoint: .listTrunkNumbers, kind: .malformedBodyAfterActing, times: 1))
            let malformed = await expectProviderError(.unavailable) {
                try await twilio.provider.phoneNumbers(onTrunk: sid, max: 20)
            }
            #expect(malformed?.message.contains("not the expected JSON") == true, "\(String(describing: malformed))")
            let changed: Bool = twilio.engine.withState { state in
                guard var record = state.ownedNumber(phoneNumber: numbers[0]) else { return false }
                record.number.phoneNumber = "4155550100"
                state.updateOwned(record)
                return true
            }
            try #require(changed)
            let notE164 = await expectProviderError(.unavailable) {
                try await twilio.provider.phoneNumbers(onTrunk: sid, max: 20)
            }
            #expect(notE164?.message.contains("not E.164") == true, "\(String(describing: notE164))")
            // A SID that is not a number's: Twilio's answer is wrong, not the request (never INVALID_ARGUMENT).
            let badSid: Bool = twilio.engine.withState { state in
                guard var record = state.ownedNumber(phoneNumber: "4155550100") else { return false }
                record.number.phoneNumber = numbers[0]
                state.updateOwned(record)
                state.recordRelease(sid: record.sid)
                record.sid = "PNnot-a-sid"
                state.recordPurchase(record)
                return true
            }
            try #require(badSid)
            #expect(twilio.engine.withState { $0.ownedNumber(phoneNumber: numbers[0])?.sid } == "PNnot-a-sid")
            let notPN = await expectProviderError(.unavailable) {
                try await twilio.provider.phoneNumbers(onTrunk: sid, max: 20)
            }
            #expect(notPN?.message.contains("not PN") == true, "\(String(describing: notPN))")
            // So is a trunk list (the audit's, a lost creation's search) naming a trunk SID that is not TK….
            let renamed: Bool = twilio.engine.withState { state in
                guard var trunk = state.removeTrunk(sid: sid) else { return false }
                trunk.sid = "TKnot-a-sid"
                state.putTrunk(trunk)
                return true
            }
            try #require(renamed)
            let notTK = await expectProviderError(.unavailable) {
                try await twilio.provider.findTrunk(namePrefix: "nothing-")
            }
            #expect(notTK?.message.contains("not TK") == true, "\(String(describing: notTK))")
        }
    }

    @Test("numbers Twilio routes to a trunk no record holds refuse its deletion, counting them; none are then deleted")
    func deletionRefusedWhileTwilioRoutesToTheTrunk() async throws {
        try await withServiceOverTwilio { twilio, service, _, _ in
            let account = try await fundedAccount(service, name: "Trunks")
            let trunk = try await service.createManagedTrunk(accountId: account.id, name: "Prod")
            // Routed to it in Twilio's console: numberd records none of them.
            let console = try await Self.routed(twilio, count: 2, to: trunk.providerTrunkSid)
            twilio.engine.clearRequestLog()
            let refused = await numberError { try await service.deleteTrunk(accountId: account.id, trunkId: trunk.id) }
            #expect(
                refused?.code == .failedPrecondition && refused?.reason == .trunkInUse, "\(String(describing: refused))"
            )
            // No account holds them: counted, not named (an operator's audit names them).
            #expect(refused?.details["numbers"] == "0" && refused?.details["otherNumbers"] == "2")
            #expect(refused?.details["phoneNumbers"] == nil, "\(String(describing: refused))")
            for number in console { #expect(refused?.message.contains(number) == false) }
            #expect(twilio.requests(.deleteTrunk).isEmpty, "nothing deleted at Twilio")
            #expect(twilio.engine.trunks.count == 1)
            #expect(try service.listTrunks(accountId: account.id).map(\.id) == [trunk.id])
            // Twilio failing to answer the question deletes nothing either: UNAVAILABLE, to retry.
            twilio.engine.addFault(
                FaultRule(endpoint: .listTrunkNumbers, kind: .serverErrorBeforeActing(.serviceUnavailable)))
            let unanswered = await numberError {
                try await service.deleteTrunk(accountId: account.id, trunkId: trunk.id)
            }
            #expect(unanswered?.code == .unavailable, "\(String(describing: unanswered))")
            #expect(twilio.requests(.deleteTrunk).isEmpty)
            twilio.engine.clearFaults()
            // Moved off the trunk at Twilio: the deletion goes through, at Twilio too.
            for number in console {
                let owned = try #require(twilio.engine.ownedNumbers.first { $0.number.phoneNumber == number })
                try await twilio.provider.setTrunk(sid: owned.sid, trunkSid: nil)
            }
            try await service.deleteTrunk(accountId: account.id, trunkId: trunk.id)
            #expect(twilio.engine.trunks.isEmpty)
            #expect(try service.listTrunks(accountId: account.id).isEmpty)
            #expect(service.durableState().checkInvariants() == [])
        }
    }

    @Test("a trunk registered by its SID (configured elsewhere) is not asked about: numberd deletes only its record")
    func registeredTrunkIsNotAsked() async throws {
        try await withServiceOverTwilio { twilio, service, _, _ in
            let account = try await fundedAccount(service, name: "Trunks")
            let sid = try await twilio.createTrunk("elsewhere")
            let trunk = try await service.createTrunk(accountId: account.id, name: "theirs", providerTrunkSid: sid)
            _ = try await Self.routed(twilio, count: 1, to: sid)
            twilio.engine.clearRequestLog()
            try await service.deleteTrunk(accountId: account.id, trunkId: trunk.id)
            #expect(twilio.engine.requestLog.isEmpty, "\(twilio.engine.requestLog)")
            #expect(twilio.engine.trunks.count == 1, "the trunk at Twilio is not numberd's to delete")
        }
    }
}
