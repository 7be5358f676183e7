/// Everything a simulator run is configured with; `defaults` serves a realistic inventory on `127.0.0.1:0`.
public struct SimulatorConfiguration: Sendable {
    /// Address to listen on (loopback by default).
    public var host: String
    /// Port; 0 picks a free one (read it back from `TwilioSimulator.port`).
    public var port: Int
    /// Seed of the inventory, SIDs and fault decisions.
    public var seed: UInt64
    /// The one account the simulator knows, with its auth token and API keys.
    public var credentials: SimulatorCredentials
    /// Size limits.
    public var limits: Limits
    /// Optional behaviours.
    public var behavior: Behavior
    /// Fault rules active from the first request (more can be added at run time through `SimulatorEngine`).
    public var faults: [FaultRule] = []
    /// Base of absolute URLs in v1 responses (`meta.url`, `url`); nil derives `http(s)://host:port` once bound.
    public var publicBaseURL: String?
    /// Keep what the account owns (numbers, trunks) across restarts, as Twilio does: a JSON snapshot at this path
    /// and a journal of the changes since at this path + `.journal`; nil keeps it in memory only (tests). See
    /// `SimulatorStateFile`.
    public var stateFile: String?
    /// Regulatory Bundles approved for the account → Bundle SIDs (`BU` + 32 hex), by ISO country and number type
    /// (`GB/local`, `GB/mobile`, `GB/toll_free`: Twilio approves a Bundle for one type of one country) or by country
    /// alone (`GB`: any type, a convenience of the simulator's). A purchase of a number whose country and type need a
    /// Bundle (``CountryCatalog/bundleRequired``) is refused with 21649 unless its `BundleSid` is approved here for
    /// them. Default none, as a new Twilio account has.
    public var approvedBundles: [String: Set<String>] = [:]

    /// Whether `sid` is an approved Bundle for numbers of `country` and `type`.
    public func isApprovedBundle(_ sid: String, country: String, type: NumberType) -> Bool {
        approvedBundles[country]?.contains(sid) == true
            || approvedBundles["\(country)/\(type.bundleKey)"]?.contains(sid) == true
    }

    /// Limits on what the simulator holds and accepts.
    public struct Limits: Sendable {
        /// Largest request body accepted (default 64 KiB); larger → 413.
        public var requestBodyBytesMax: Int
        /// Largest request head accepted: the bytes of its request target and of its header names and values
        /// together, and of each one of them alone (default 16 KiB; numberd's requests carry well under 1 KiB). A head
        /// over it is answered 400 and its connection closed, before the rest of it is read or any of it routed.
        public var requestHeadBytesMax: Int
        /// Most results one AvailablePhoneNumbers search returns (default 30, Twilio's observed cap; no paging).
        public var searchResultsMax: Int
        /// `PageSize` when a list request gives none (default 50, Twilio's).
        public var pageSizeDefault: Int
        /// Largest `PageSize` accepted (default 1000, Twilio's); larger → 400.
        public var pageSizeMax: Int
        /// Share of valid numbers in each numbering area the simulated carrier holds, per mille (default 50 = 5 %,
        /// about 400 000 numbers per US area code).
        public var inventoryDensityPerMille: Int
        /// Most candidate numbers one search examines before answering with what it found (default 200 000),
        /// which bounds the work of a search whose filters match almost nothing.
        public var searchScanMax: Int
        /// Entries kept in the request log; the oldest are dropped first (default 10 000).
        public var requestLogEntriesMax: Int
        /// Most bytes one request log entry keeps of its path, and of its query and form together, each form pair
        /// counting ``RequestLogEntry/pairOverheadBytes`` besides its name and value (default 1024); the rest is
        /// dropped and the entry marked `truncated`. Query and form are kept only for a request that authenticated.
        /// So an entry holds a few KiB at most whatever anyone sends: kept whole, a stranger's 64 KiB bodies of
        /// thousands of distinct names took ~1 MiB an entry, gigabytes over `requestLogEntriesMax` entries.
        public var requestLogEntryBytesMax: Int
        /// Longest `FriendlyName` accepted, in UTF-16 code units (default 64, Twilio's).
        public var friendlyNameLengthMax: Int
        /// Most trunks the account may hold (default 100).
        public var trunksMax: Int
        /// Most Origination URLs one trunk may hold (default 10, the simulator's choice: Twilio documents none);
        /// one more is a 400/20001.
        public var originationUrlsPerTrunkMax: Int
        /// Longest Origination URL `SipUrl` accepted, in bytes (default 255, the simulator's choice: Twilio's schema
        /// says only `format: uri`, with no length, and numberd sends at most 255 bytes); longer is a 400/20001. It
        /// bounds what a trunk keeps in the simulator's state.
        public var sipUrlBytesMax: Int
        /// Longest URL accepted in a number's `VoiceUrl`, `VoiceFallbackUrl`, `SmsUrl`, `SmsFallbackUrl` and
        /// `StatusCallback` and a trunk's `DisasterRecoveryUrl`, in bytes (default 255, the simulator's choice, as
        /// `sipUrlBytesMax`: Twilio's schema says only `format: uri`, with no length); longer is a 400/20001. It
        /// bounds what a number or trunk keeps in the simulator's state.
        public var callbackUrlBytesMax: Int
        /// How long a connection may stay silent between requests before it is closed (default 60 000 ms).
        public var connectionIdleTimeoutMilliseconds: Int
        /// Client connections open at once. One more takes the place of the oldest open connection that never sent
        /// the account's credentials, which is closed (counted in `TwilioSimulator.evictedConnections`), so
        /// connections that say nothing cannot keep a client out; when every open one has sent them, the newcomer is
        /// closed as soon as it is accepted, before any TLS handshake or byte is read (counted in
        /// `TwilioSimulator.refusedConnections`). Default 64: numberd's adapter runs at most 16 transfers and keeps
        /// at most 16 connections for reuse.
        public var connectionsMax: Int
        /// How long a request may take to arrive, from the first byte of its head until it is whole; one that is not
        /// whole by then is answered 408 (a Twilio error body, code 20001) and its connection closed. Without it a
        /// half-sent request would hold its connection for good: the idle timeout does not cut a request in
        /// progress. The time to answer a whole request (a latency fault included) does not count. Default 10 000 ms.
        public var requestDeadlineMilliseconds: Int
        /// Requests handled at once before Twilio-style 429/20429 answers (default 100, the commonly cited limit); one
        /// delayed by a latency fault counts while it waits, and one stalled by a fault until its connection closes.
        public var concurrentRequestsMax: Int
        /// With a state file, the journal is folded into a fresh snapshot once it holds this many bytes (default
        /// 8 MiB, about 9 000 purchases of ~900 bytes) or `stateJournalRecordsMax` lines, whichever comes first.
        public var stateJournalBytesMax: Int
        /// With a state file, the journal is folded into a fresh snapshot once it holds this many lines, one per
        /// change (default 50 000), or `stateJournalBytesMax` bytes. A compaction rewrites the whole snapshot
        /// (O(owned numbers)) under the state lock, so it happens once per many changes; a start replays at most
        /// this much.
        public var stateJournalRecordsMax: Int
        /// Released numbers whose SID's creation sequence and whose purchase, repeat-purchase and release counts are
        /// kept (default 10 000); a release past it forgets the oldest released number's: a page token naming it is
        /// then refused 400/21481, as Twilio refuses an expired token (and as after a restart, which keeps none), and
        /// its counts read 0. Numbers owned keep theirs. Kept for every release, they took ~200 bytes a number bought
        /// since the start, hundreds of MB an hour under numbers-load's churn. Deleted trunks are kept as many, and
        /// alike: a deletion past it forgets the oldest deleted trunk's creation sequence (a page token naming it is
        /// refused 400/21481); kept for every trunk, a CreateTrunk and DeleteTrunk loop grew the state without bound.
        public var releasedNumbersKeptMax: Int

        /// The documented defaults.
        public static let defaults = Limits(
            requestBodyBytesMax: 64 * 1024, requestHeadBytesMax: 16 * 1024, searchResultsMax: 30, pageSizeDefault: 50,
            pageSizeMax: 1000,
            inventoryDensityPerMille: 50,
            searchScanMax: 200_000, requestLogEntriesMax: 10_000, requestLogEntryBytesMax: 1024,
            friendlyNameLengthMax: 64, trunksMax: 100, originationUrlsPerTrunkMax: 10, sipUrlBytesMax: 255,
            callbackUrlBytesMax: 255, connectionIdleTimeoutMilliseconds: 60_000,
            connectionsMax: 64,
            requestDeadlineMilliseconds: 10_000, concurrentRequestsMax: 100,
            stateJournalBytesMax: 8 * 1024 * 1024, stateJournalRecordsMax: 50_000, releasedNumbersKeptMax: 10_000)
    }

    /// Behaviours that can be switched.
    public struct Behavior: Sendable {
        /// Refuse purchases of numbers whose `address_requirements` is not `none` unless `AddressSid` is given
        /// (21631), as Twilio does. On by default: a client that passes against the simulator must not rely on buying
        /// regulated numbers (GB local and mobile) without an Address; off only to test such flows.
        public var enforceAddressRequirements: Bool
        /// Serve Twilio's test-credential magic numbers in live mode: buying `+15005550000` → 21422,
        /// `+15005550001` → 21421, `AreaCode=533` → 21452, `+15005550006` or `AreaCode=500` → 201 with
        /// `+15005550006` (twilio-api.md §7, suggested extension). Default on.
        public var magicNumbers: Bool

        /// The documented defaults.
        public static let defaults = Behavior(enforceAddressRequirements: true, magicNumbers: true)
    }

    /// Loopback, port 0, seed 1, credentials derived from seed 1, default limits.
    public static let defaults = SimulatorConfiguration(
        host: "127.0.0.1", port: 0, seed: 1, credentials: .generated(seed: 1), limits: .defaults,
        behavior: .defaults, publicBaseURL: nil)

    /// Creates a configuration from its parts.
    public init(
        host: String, port: Int, seed: UInt64, credentials: SimulatorCredentials, limits: Limits,
        behavior: Behavior, publicBaseURL: String?
    ) {
        self.host = host
        self.port = port
        self.seed = seed
        self.credentials = credentials
        self.limits = limits
        self.behavior = behavior
        self.publicBaseURL = publicBaseURL
    }
}
