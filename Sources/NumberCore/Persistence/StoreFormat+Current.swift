extension StoreFormat {
    /// The format of ``FileNumberStore``'s files (``CoreEvent`` journal lines, ``CoreState`` snapshots) this build
    /// writes; it reads every format up to `current.format`.
    ///
    /// **Bump rule.** Any change to what is written moves `format` on. Any change an older reader would misread moves
    /// `readers` to the new format too, so that an older numberd refuses the store instead of misreading it:
    ///
    /// - a new ``CoreEvent`` case (an older numberd refuses the journal as damaged at the record that holds it);
    /// - a new persisted field or table whose loss matters (an older numberd ignores the key it does not know, and its
    ///   next snapshot drops it for good);
    /// - a renamed or retyped key, or a value whose meaning changed (an older numberd resets, refuses or misreads it).
    ///
    /// `readers` may stay when an older numberd reading the new files loses nothing that matters (say, a field that is
    /// only a cache, rebuilt when missing). A bump keeps every older format readable: the decoders of older files stay
    /// (`decodeIfPresent` with the old meaning as default, a key read under both names), and the fixture of each
    /// format (`Tests/NumberCoreTests/Fixtures/store-format-N`, never regenerated) must still open to its expected
    /// state; a new fixture is generated for the new format (`Tests/NumberCoreTests/Fixtures/README.md`).
    ///
    /// Formats: 1 — every store before the `FORMAT` file, and since (22 event kinds, snapshot tables as of this file).
    /// 2 — each journal record names its group-commit batch (`"batch":[first,last]`), so that recovery can cut damage a
    /// power cut left inside the last, never-acknowledged batch instead of refusing to start (``SegmentScanner``).
    /// Format 1 readers lose nothing: they ignore the key and keep format 1's recovery rules, so `readers` stays 1.
    /// 3 — who caused each money movement: ledger transactions carry `"actor"` (``LedgerActor``: an API key's id or
    /// `system:…`), and so that purchases and releases reconciliation finishes name their asker too, purchase intents
    /// carry `"actor"`, owned numbers `"releaseRequestedBy"` and `numberReleaseRequested` events `"by"`. All optional:
    /// records of formats 1 and 2 read with none (shown empty). An older numberd would read the files without the
    /// members and its next snapshot would drop every actor for good — the audit trail of the ledger, a loss that
    /// matters — so `readers` moves to 3: an older numberd refuses the store (restore the backup taken before the
    /// upgrade to go back).
    /// 4 — manual balance adjustments take an idempotency key (`AdjustBalance`): idempotency records may name the
    /// operation `"adjustment"` with the outcome `"adjusted"`. A format 3 reader cannot decode either and would refuse
    /// the journal as damaged at the first such record, so `readers` moves to 4.
    /// 5 — releases take an idempotency key (`ReleaseNumber`): idempotency records may name the operation `"release"`
    /// with the outcome `"releaseRequested"` (the number, and the renewals its request posted). A format 4 reader
    /// cannot decode either, so `readers` moves to 5.
    /// 6 — a keyed release's request names its key's record: `numberReleaseRequested` events carry `"key"` and owned
    /// numbers `"releaseRequestKey"`, so a retry under the key knows the release for its own (format 5 matched them by
    /// time, which a held clock can make equal for another request). A format 5 reader would drop them at its next
    /// snapshot — every such retry then answered `ALREADY_RELEASED` — so `readers` moves to 6. Format 5 files read with
    /// no key: their keyed releases are no longer answered to a retry (it gets `ALREADY_RELEASED`, whose details name
    /// the refund).
    /// 7 — a trunk numberd creates records where its calls go: `trunkCreated` events and snapshot trunks carry
    /// `"originationSipUri"` (optional: records of formats 1 to 6, and trunks registered by their SID, have none). A
    /// format 6 reader ignores the key and its next snapshot drops it, which loses only what List and Get show: the
    /// route itself is set at the provider, and the trunk, its numbers and its deletion work without it. Orphan
    /// watches of voided purchases carry the trunk SID their buys carried (`"buyTrunkSid"`, optional: watches of
    /// earlier records have none, and keep their account's own purchases of the number off until the late-buy window
    /// ends); a format 6 reader, which has no such check, loses nothing by dropping it. So `readers` stays 6, and a
    /// rollback to a format 6 numberd still opens the store.
    /// 8 — a trunk change of a number is recorded before it is sent (`numberRouteRequested` events, `"routeRequest"` on
    /// owned numbers) and settled by the `numberTrunkChanged` that records its outcome, so a crash between Twilio's
    /// change and numberd's record no longer leaves the record stale: reconciliation settles the request from what the
    /// provider shows. A format 7 reader cannot decode the new event, so `readers` moves to 8 (a rollback restores the
    /// backup taken before the upgrade). Records of formats 1 to 7 read with no request open.
    /// 9 — an adoption's routing of a number to a trunk is recorded before it is sent (`adoptionRouteRequested`, ended
    /// by `adoptionRouteEnded`; the snapshot's `"adoptionRoutes"` table), so a restart keeps holding the trunk and the
    /// number until a routing that got no answer can no longer land (it was held in memory only). A format 8 reader
    /// cannot decode the new events, so `readers` moves to 9. Records of formats 1 to 8 read with none recorded.
    /// 10 — a voided purchase's orphan watch stays beside the number its own account bought again while the voided
    /// purchase's POST could still land (`"claimedBy"` on the watch, recorded by an `orphanWatchStarted` in the
    /// purchase's commit record), and watches again once that number is released: the commit used to end it, and a
    /// release within the window left the late POST's number paid at the provider with nobody owning it. A format 9
    /// reader's start-up check refuses a watch of an owned number, so `readers` moves to 10. Records of formats 1 to 9
    /// read with no watch claimed.
    /// 11 — a voided purchase's orphan watch that replaces another watch of the number (the account bought it again
    /// while the first purchase's POST could still land, and that purchase was voided too) counts what the replaced
    /// one was still to release (`"earlierBuys"`): a release of a number it finds takes one off, and the watch ends
    /// with the last. A format 10 reader would drop the count and end the watch at the first release, leaving the
    /// other POST's number paid at the provider with nobody owning it, so `readers` moves to 11. Records of formats 1
    /// to 10 read with nothing more to release.
    public static let current = StoreFormat(format: 11, readers: 11)

    /// The keys that show a store's files need the readers of the format that added them (``Marker``), for each format
    /// that moved `readers` by a new key (format 6's `"key"` on `numberReleaseRequested` is also an idempotency
    /// record's: the decoded event says it, ``CoreEvent/formatMarker``). A new format that moves `readers` adds its
    /// own.
    public static let markers: [Marker] = [
        Marker(key: "actor", readers: 3), Marker(key: "releaseRequestedBy", readers: 3), Marker(key: "by", readers: 3),
        Marker(key: "adjusted", readers: 4), Marker(key: "releaseRequested", readers: 5),
        Marker(key: "releaseRequestKey", readers: 6), Marker(key: "numberRouteRequested", readers: 8),
        Marker(key: "routeRequest", readers: 8), Marker(key: "adoptionRouteRequested", readers: 9),
        Marker(key: "adoptionRouteEnded", readers: 9), Marker(key: "adoptionRoutes", readers: 9),
        Marker(key: "claimedBy", readers: 10), Marker(key: "earlierBuys", readers: 11),
    ]
}

extension CoreEvent: StoreFormat.Marking {
    /// Format 6's key on a release request (`numberReleaseRequested`'s `"key"`): a journal whose snapshot does not
    /// hold the request yet (`"releaseRequestKey"`) showed no marker of readers 6, and a `FORMAT` of 5 passed.
    package var formatMarker: StoreFormat.Marker? {
        guard case .numberReleaseRequested(_, _, _, .some) = self else { return nil }
        return StoreFormat.Marker(key: "numberReleaseRequested.key", readers: 6)
    }
}
