import Foundation

extension NumberService {
    /// The secret prefix.
    static let secretPrefix = "nk_"
    /// Random bytes of a secret after its key id.
    static let secretRandomBytes = 32

    /// Creates an API key and returns its secret, the only time it is available. Admin keys have no account;
    /// account and read-only keys need one. At most `apiKeysMax` keys that are not revoked: revoking one makes room.
    public func createApiKey(
        name: String, scope: ApiKey.Scope, accountId: String?
    ) async throws(NumberError) -> CreatedApiKey {
        try await recordApiKey(nil, name: name, scope: scope, accountId: accountId)
    }

    /// Draws a new API key's id and secret and records nothing:
    /// ``createApiKey(_:name:scope:accountId:evenAtKeyLimit:)`` records it. For a secret that must be saved before its
    /// key works (numberd's `admin.key`): saved first, a failure or a crash before the record leaves a secret that
    /// opens nothing, never a working key whose secret nobody holds.
    public func drawApiKey() -> DrawnApiKey {
        let id = Identifier.makeApiKeyId(taken: { id in (try? coordinator.read { $0.isTaken(id) }) ?? false })
        return DrawnApiKey(id: id, secret: Self.secret(forKeyId: id))
    }

    /// Records the key ``drawApiKey()`` drew, as ``createApiKey(name:scope:accountId:)`` records a new one (same
    /// checks and limit); ABORTED if its id was taken since it was drawn.
    ///
    /// `evenAtKeyLimit` records it past `apiKeysMax` all the same. It is for the admin key numberd makes at start-up
    /// when `admin.key` no longer opens anything (one per start, at most): at the limit, making room means revoking a
    /// key over the API, which a start that fails never serves, so the start failed for good, and each restart of a
    /// supervisor's loop wrote yet another secret that opened nothing. The API never passes it.
    public func createApiKey(
        _ drawn: DrawnApiKey, name: String, scope: ApiKey.Scope, accountId: String?, evenAtKeyLimit: Bool = false
    ) async throws(NumberError) -> CreatedApiKey {
        try await recordApiKey(drawn, name: name, scope: scope, accountId: accountId, evenAtKeyLimit: evenAtKeyLimit)
    }

    private func recordApiKey(
        _ drawn: DrawnApiKey?, name: String, scope: ApiKey.Scope, accountId: String?, evenAtKeyLimit: Bool = false
    ) async throws(NumberError) -> CreatedApiKey {
        let name = try Validation.name(name, field: "name", max: config.limits.nameLengthMax)
        switch (scope, accountId) {
        case (.admin, .some): throw .invalid("account_id", "admin keys are not bound to an account")
        case (.account, nil), (.readOnly, nil):
            let what = scope == .account ? "an account key" : "a read-only key"
            throw .invalid("account_id", "\(what) needs an account: name the account it is for")
        default: break
        }
        let now = now()
        let keysMax = config.limits.apiKeysMax
        return try await coordinator.perform(admitting: true) { state throws(NumberError) in
            if let accountId { _ = try state.requireAccount(accountId) }
            // Only keys that work count: revoked ones, still listed, never block a new key.
            guard evenAtKeyLimit || state.activeApiKeyCount < keysMax else {
                throw NumberError(
                    .resourceExhausted, .limitExceeded,
                    "the API key limit of \(keysMax) keys that are not revoked is reached: revoke one to make room",
                    details: ["max": String(keysMax)])
            }
            if let drawn, state.isTaken(drawn.id) {
                throw NumberError(.aborted, .invalidField, "API key id \(drawn.id) was taken since it was drawn")
            }
            let id = drawn?.id ?? Identifier.makeApiKeyId(taken: state.isTaken)
            let secret = drawn?.secret ?? Self.secret(forKeyId: id)
            let key = ApiKey(
                id: id, name: name, scope: scope, accountId: accountId, secretHash: Crypto.sha256Hex(secret),
                createdAt: now)
            return ([.apiKeyCreated(key)], CreatedApiKey(key: key, secret: secret))
        }
    }

    /// A new secret for the key `id`: `nk_`, the id's hex, then fresh random hex.
    private static func secret(forKeyId id: String) -> String {
        secretPrefix + id.dropFirst(Identifier.apiKey.count + 1) + Crypto.randomHex(secretRandomBytes)
    }

    /// Revokes a key; revoking twice is harmless. The last admin key that works is not revoked (FAILED_PRECONDITION /
    /// LAST_ADMIN_KEY): with none, nothing could be administered over the API until numberd restarts and writes a new
    /// `admin.key` on its host — create another admin key first, then revoke this one. `leavingNoAdminKey` revokes it
    /// all the same (for an embedder that knows how it gets one back; the API never passes it).
    public func revokeApiKey(keyId: String, leavingNoAdminKey: Bool = false) async throws(NumberError) -> ApiKey {
        try await revokeApiKeyReportingChange(keyId: keyId, leavingNoAdminKey: leavingNoAdminKey).key
    }

    /// ``revokeApiKey(keyId:leavingNoAdminKey:)``, saying too whether this call revoked the key: `changed` is false
    /// when it was revoked already and nothing was written, so that an audit log does not show it revoked twice.
    public func revokeApiKeyReportingChange(
        keyId: String, leavingNoAdminKey: Bool = false
    ) async throws(NumberError) -> (key: ApiKey, changed: Bool) {
        let now = now()
        return try await coordinator.perform { state throws(NumberError) in
            guard var key = state.apiKeys[keyId] else {
                throw NumberError(.notFound, .apiKeyNotFound, "API key \(keyId) not found", details: ["keyId": keyId])
            }
            guard key.revokedAt == nil else { return ([], (key, false)) }
            if key.scope == .admin, !leavingNoAdminKey {
                let anotherWorks = (state.accountApiKeys[nil] ?? []).contains { id in
                    id != keyId && state.apiKeys[id].map { $0.revokedAt == nil && $0.scope == .admin } == true
                }
                guard anotherWorks else {
                    throw NumberError(
                        .failedPrecondition, .lastAdminKey,
                        "\(keyId) is the last admin key that works: create another admin key first, then revoke this one",
                        details: ["keyId": keyId])
                }
            }
            key.revokedAt = now
            return ([.apiKeyRevoked(keyId: keyId, at: now)] + self.purge(state, revoking: keyId), (key, true))
        }
    }

    /// The event dropping the oldest revoked keys (by revocation time, `keyId` — revoked now — last) when revoking
    /// `keyId` takes the revoked keys past `revokedApiKeysKeptMax`; none otherwise. Sorting the revoked keys happens
    /// only at that bound.
    private func purge(_ state: CoreState, revoking keyId: String) -> [CoreEvent] {
        let excess = state.apiKeys.count - state.activeApiKeyCount + 1 - config.limits.revokedApiKeysKeptMax
        guard excess > 0 else { return [] }
        let oldest =
            state.apiKeys.values.filter { $0.revokedAt != nil }
            .sorted { ($0.revokedAt!, $0.id) < ($1.revokedAt!, $1.id) }.map(\.id) + [keyId]
        return [.apiKeysPurged(keyIds: Array(oldest.prefix(excess)))]
    }

    /// The key a secret belongs to, or UNAUTHENTICATED. The hash comparison takes the same time whether the key
    /// exists or not, and whether the secret is right or not.
    public func authenticate(secret: String) throws(NumberError) -> ApiKey {
        let failure = NumberError.invalidCredentials
        let idLength = Identifier.apiKeyHexLength
        let expectedLength = Self.secretPrefix.utf8.count + idLength + 2 * Self.secretRandomBytes
        guard secret.utf8.count == expectedLength, secret.hasPrefix(Self.secretPrefix) else { throw failure }
        let idHex = secret.dropFirst(Self.secretPrefix.count).prefix(idLength)
        let keyId = Identifier.apiKey + "_" + idHex
        let key = try coordinator.read { state throws(NumberError) in state.apiKeys[keyId] }
        let presented = Crypto.sha256(Array(secret.utf8))
        let stored = key.flatMap { Crypto.unhex($0.secretHash) } ?? [UInt8](repeating: 0xA5, count: 32)
        let matches = Crypto.constantTimeEquals(presented, stored)
        guard matches, let key, key.revokedAt == nil else { throw failure }
        return key
    }

    /// The key with id `id` unless it is revoked or unknown (for a caller that already verified its secret).
    public func activeApiKey(id: String) -> ApiKey? {
        let key = try? coordinator.read { state throws(NumberError) in state.apiKeys[id] }
        guard let key = key ?? nil, key.revokedAt == nil else { return nil }
        return key
    }

    /// Throws PERMISSION_DENIED unless `key` may act on `accountId` (writing when `write`).
    public func authorize(_ key: ApiKey, accountId: String, write: Bool) throws(NumberError) {
        guard key.permits(accountId: accountId, write: write) else {
            throw NumberError(
                .permissionDenied, .scopeDenied,
                "this key may not \(write ? "change" : "read") account \(accountId)", details: ["accountId": accountId])
        }
    }

    /// The account's keys, or with no account the admin keys (keys of no account), without secrets, by id, a page at
    /// a time (keyset paging, as ``listAccounts(pageSize:pageToken:)``, by binary search in the sorted ids kept per
    /// account, ``CoreState/accountApiKeys``): an account may hold up to `apiKeysMax` + `revokedApiKeysKeptMax` keys,
    /// far more than one response carries. Revoked keys are listed, with when.
    public func listApiKeys(
        accountId: String?, pageSize: Int = 0, pageToken: String? = nil
    ) throws(NumberError) -> ApiKeyPage {
        let size = try Validation.pageSize(pageSize, limits: config.limits)
        let query = "keys|\(accountId ?? "-")"
        let after = try PageToken.decodeKey(pageToken, query: query)
        return try coordinator.read { state throws(NumberError) in
            if let accountId { _ = try state.requireAccount(accountId) }
            let (ids, next, _) = Self.keysetPage(
                state.accountApiKeys[accountId] ?? [], after: after, size: size, query: query)
            return ApiKeyPage(keys: ids.compactMap { state.apiKeys[$0] }, nextPageToken: next)
        }
    }
}

/// A page of API keys.
public struct ApiKeyPage: Sendable, Hashable {
    /// Keys in id order, without secrets.
    public var keys: [ApiKey]
    /// The token for the next page, nil at the end.
    public var nextPageToken: String?
}
