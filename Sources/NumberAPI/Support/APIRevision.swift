/// The revision of the numberd API, in one place for server and client: which request fields a server understands.
///
/// A server that predates a request field skips it as an unknown field (proto3), and answers as if it were absent.
/// For most fields that is harmless; for a field that guards money or narrows what is returned it fails open: a
/// release without the billing check it asked for, a purchase without its price limit, a period's ledger read as the
/// whole ledger. So a server advertises its revision in SETTINGS (API_REVISION, FRAMING.md §7), and the client
/// refuses, before sending, a request that sets a field of ``guardedFields`` whose revision is above the server's:
/// `FAILED_PRECONDITION` / `SERVER_TOO_OLD`, nothing sent. A server that sends no revision is revision 0.
///
/// ```swift
/// let request = ReleaseNumberRequest(numberId: "NUM_7a8b9c0d1e2", expectNoPaidCycle: true)
/// let fields = APIRevision.guardedFieldsSet(in: request)  // expect_no_paid_cycle, revision 1
/// let tooNew = fields.filter { $0.revision > serverRevision }  // refused against a server of revision 0
/// ```
public enum APIRevision {
    /// This build's revision: what its server advertises and what its client's table is written for. Revision 1
    /// brought the setting itself; revision 2, a trunk's origination SIP URI. The next request field whose loss at an
    /// older server would do harm raises it by one, and goes into ``guardedFields`` at the new revision; a field whose
    /// loss is harmless needs neither.
    public static let current: UInt32 = 2

    /// The revision of a server whose SETTINGS carry no API_REVISION: one older than the setting.
    public static let unadvertised: UInt32 = 0

    /// Request fields a server must understand before a client may send them set (numbers.proto, "Fields a server
    /// must understand"): those added after the first numberd, whose loss would change money, what is returned or
    /// where calls go.
    /// Left out on purpose: `dry_run` (in the contract from the start: every numberd honours it), GetStatement's
    /// period (a method an older server does not serve: `UNIMPLEMENTED`, nothing done), and filters whose loss only
    /// widens a search or refuses a purchase.
    public static let guardedFields: [GuardedField] = [
        // A limit dropped: the purchase charged at whatever the price is.
        GuardedField(PurchaseNumbersRequest.self, "max_monthly_fee", 10, revision: 1) { $0.maxMonthlyFee != nil },
        GuardedField(PurchaseNumbersRequest.self, "max_setup_fee", 11, revision: 1) { $0.maxSetupFee != nil },
        // A check dropped: a renewal charged, or a refund lost, that the caller never saw.
        GuardedField(ReleaseNumberRequest.self, "expected_next_billing_date", 5, revision: 1) {
            $0.expectedNextBillingDate != nil
        },
        GuardedField(ReleaseNumberRequest.self, "expect_no_paid_cycle", 6, revision: 1) { $0.expectNoPaidCycle },
        // A bound dropped: a period's entries read as the whole ledger (a statement's lines wrong).
        GuardedField(ListTransactionsRequest.self, "start_time", 4, revision: 1) { $0.startTime != nil },
        GuardedField(ListTransactionsRequest.self, "end_time", 5, revision: 1) { $0.endTime != nil },
        // A route dropped: a trunk created at Twilio with nowhere to send its calls, on an account the customer
        // cannot configure.
        GuardedField(CreateTrunkRequest.self, "origination_sip_uri", 4, revision: 2) { !$0.originationSipUri.isEmpty },
    ]

    /// ``guardedFields`` by message type: a call looks its request up with one hash, and most find nothing.
    private static let guardedFieldsByMessage: [ObjectIdentifier: [GuardedField]] = Dictionary(
        grouping: guardedFields, by: \.messageType)

    /// The fields of ``guardedFields`` that `request` sets, in the table's order; empty for a request of a message
    /// with none.
    public static func guardedFieldsSet<Request>(in request: Request) -> [GuardedField] {
        guard let fields = guardedFieldsByMessage[ObjectIdentifier(Request.self)] else { return [] }
        return fields.filter { $0.isSet(request) }
    }
}

extension APIRevision {
    /// A request field whose loss at a server that predates it would do harm, and the first revision that has it.
    public struct GuardedField: Sendable, CustomStringConvertible {
        /// The request message, as numbers.proto names it: `ReleaseNumberRequest`.
        public let message: String
        /// The field, as numbers.proto names it: `expect_no_paid_cycle`.
        public let field: String
        /// Its field number.
        public let number: Int
        /// The first API revision whose servers understand it.
        public let revision: UInt32
        /// The message's Swift type, for the look-up by a request's type.
        let messageType: ObjectIdentifier
        /// Whether a request sets the field: present for an `optional` field, true for a `bool`, not empty for a
        /// `string` (false for a value of another type).
        let isSet: @Sendable (Any) -> Bool

        /// The field `field` (number `number`) of `Request`, understood from `revision` on; `isSet` says whether a
        /// request sets it.
        init<Request: Sendable>(
            _ type: Request.Type, _ field: String, _ number: Int, revision: UInt32,
            isSet: @escaping @Sendable (Request) -> Bool
        ) {
            self.message = String(describing: type)
            self.field = field
            self.number = number
            self.revision = revision
            self.messageType = ObjectIdentifier(type)
            self.isSet = { value in (value as? Request).map(isSet) ?? false }
        }

        /// `ReleaseNumberRequest.expect_no_paid_cycle (field 6, revision 1)`.
        public var description: String { "\(message).\(field) (field \(number), revision \(revision))" }
    }
}
