/// The inspection and control API tests use: owned numbers, purchase counts, the request log, faults.
extension SimulatorEngine {
    /// Numbers the account owns, in purchase order.
    public var ownedNumbers: [IncomingNumber] {
        withState { $0.ownedInOrder }
    }

    /// Trunks of the account, in creation order.
    public var trunks: [Trunk] {
        withState { $0.trunksInOrder }
    }

    /// How many times `phoneNumber` (E.164) was acquired; above 1 without releases between means a double buy. Kept
    /// while the number is owned and for the last `releasedNumbersKeptMax` released (0 for one released before).
    public func purchaseCount(_ phoneNumber: String) -> Int {
        withState { $0.purchaseCounts[phoneNumber, default: 0] }
    }

    /// How many times `phoneNumber` was POSTed again while already owned (Twilio answers 201 to those).
    public func repeatPurchaseCount(_ phoneNumber: String) -> Int {
        withState { $0.repeatPurchaseCounts[phoneNumber, default: 0] }
    }

    /// Successful purchases per number, of the numbers owned and the last `releasedNumbersKeptMax` released.
    public var purchaseCounts: [String: Int] {
        withState { $0.purchaseCounts }
    }

    /// How many times `phoneNumber` was released (kept as `purchaseCount(_:)` is).
    public func releaseCount(_ phoneNumber: String) -> Int {
        withState { $0.releaseCounts[phoneNumber, default: 0] }
    }

    /// True when the number is in inventory and not owned (here or by another account).
    public func isAvailable(_ phoneNumber: String) -> Bool {
        withState { $0.isAvailable(phoneNumber) }
    }

    /// Another Twilio account buys `phoneNumber` (not one this account owns): searches stop offering it and a
    /// purchase of it answers 400/21422 — the race between a search and a purchase (twilio-api.md §8.1).
    public func sellElsewhere(_ phoneNumber: String) {
        sellElsewhereDurably(phoneNumber)
    }

    /// The first `limit` unowned numbers of a country and type, in search order (what an unfiltered search shows).
    public func availableNumbers(country: String, type: NumberType, limit: Int) -> [AvailableNumber] {
        let areas = CountryCatalog.named(country)?.areas.filter { $0.type == type } ?? []
        let scanMax = configuration.limits.searchScanMax
        return withState { $0.available(in: areas, limit: limit, scanMax: scanMax) }
    }

    /// Adds a fault rule (takes effect for the next request).
    public func addFault(_ rule: FaultRule) {
        withState { $0.faults.add(rule) }
    }

    /// Removes the fault rules of `endpoint`, or all of them when nil.
    public func clearFaults(endpoint: Endpoint? = nil) {
        withState { $0.faults.clear(endpoint: endpoint) }
    }

    /// The fault rules still active.
    public var faultRules: [FaultRule] {
        withState { $0.faults.rules }
    }
}
