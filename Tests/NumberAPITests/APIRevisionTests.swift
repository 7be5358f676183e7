import Foundation
import NumberAPI
import NumberWire
import Testing

/// The table of request fields a server must understand (`APIRevision.guardedFields`, numbers.proto's "Fields a
/// server must understand"): each counts only when its request sets it, and names the field number that request is
/// written with, so the table and the generated messages cannot drift apart.
@Suite("API revision: the guarded request fields")
struct APIRevisionTableTests {
    /// Checks that `request`, which sets one field, sets exactly the guarded field `field`, whose number is that of
    /// the first (and only) field on the wire.
    static func check<Request: Encodable>(
        _ request: Request, _ field: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let set = APIRevision.guardedFieldsSet(in: request)
        #expect(set.map(\.field) == [field], sourceLocation: sourceLocation)
        let bytes = try ProtoEncoder().encode(request)
        // A tag of a field below 16 is one byte: the number, then 3 bits of wire type.
        #expect(set.first?.number == bytes.first.map { Int($0 >> 3) }, "\(bytes)", sourceLocation: sourceLocation)
    }

    @Test("each guarded field counts when its request sets it, and is the field number written")
    func guardedFieldsSet() throws {
        let instant = Date(timeIntervalSince1970: 1_767_225_600)
        try Self.check(PurchaseNumbersRequest(maxMonthlyFee: 100), "max_monthly_fee")
        try Self.check(PurchaseNumbersRequest(maxSetupFee: 0), "max_setup_fee")  // a limit of 0 is a limit
        try Self.check(ReleaseNumberRequest(expectedNextBillingDate: instant), "expected_next_billing_date")
        try Self.check(ReleaseNumberRequest(expectNoPaidCycle: true), "expect_no_paid_cycle")
        try Self.check(ListTransactionsRequest(startTime: instant), "start_time")
        try Self.check(ListTransactionsRequest(endTime: instant), "end_time")
        try Self.check(CreateTrunkRequest(originationSipUri: "sip:pbx.example.com"), "origination_sip_uri")
        let origination = APIRevision.guardedFieldsSet(in: CreateTrunkRequest(originationSipUri: "sip:pbx.example.com"))
        #expect(origination.map(\.revision) == [2], "a trunk's origination came with revision 2")
        let both = APIRevision.guardedFieldsSet(in: PurchaseNumbersRequest(maxMonthlyFee: 100, maxSetupFee: 0))
        #expect(both.map(\.field) == ["max_monthly_fee", "max_setup_fee"])
    }

    @Test("requests without a guarded field set, a dry run, a statement's period or a trunk SID among them, find none")
    func unguarded() {
        let instant = Date(timeIntervalSince1970: 1_767_225_600)
        // dry_run has been in the contract from the start; GetStatement is a method an older numberd does not serve.
        #expect(APIRevision.guardedFieldsSet(in: ReleaseNumberRequest(numberId: "NUM_1", dryRun: true)).isEmpty)
        #expect(APIRevision.guardedFieldsSet(in: ReleaseNumberRequest(numberId: "NUM_1")).isEmpty)
        #expect(APIRevision.guardedFieldsSet(in: PurchaseNumbersRequest(country: "US", numbers: ["+1415"])).isEmpty)
        #expect(APIRevision.guardedFieldsSet(in: ListTransactionsRequest(pageSize: 10)).isEmpty)
        #expect(APIRevision.guardedFieldsSet(in: GetStatementRequest(startTime: instant, endTime: instant)).isEmpty)
        #expect(APIRevision.guardedFieldsSet(in: GetBalanceRequest()).isEmpty)
        // A trunk registered by its SID sets no origination: any numberd registers it as asked.
        #expect(APIRevision.guardedFieldsSet(in: CreateTrunkRequest(name: "pbx", providerTrunkSid: "TK1")).isEmpty)
    }

    @Test("every guarded field is at a revision from 1 to this build's, with its message's name")
    func revisions() {
        #expect(APIRevision.current >= 1)
        for field in APIRevision.guardedFields {
            #expect((1...APIRevision.current).contains(field.revision), "\(field)")
            #expect(field.message.hasSuffix("Request"), "\(field)")
        }
        #expect(
            APIRevision.guardedFields.map(\.description).first
                == "PurchaseNumbersRequest.max_monthly_fee (field 10, revision 1)")
    }
}
