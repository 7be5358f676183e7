import Foundation

extension NumberService {
    /// Creates a trunk for the account. With an empty `providerTrunkSid`, numberd creates the trunk at the provider
    /// first (Twilio Elastic SIP Trunking) and manages it: deleting our trunk deletes it there too.
    public func createTrunk(
        accountId: String, name: String, providerTrunkSid: String
    ) async throws(NumberError) -> Trunk {
        let limits = config.limits
        let name = try Validation.name(name, field: "name", max: limits.nameLengthMax)
        var sid = providerTrunkSid
        let managed = sid.isEmpty
        if managed {
            // Check everything that can be checked before creating anything at the provider.
            try coordinator.read { state throws(NumberError) in try Self.checkNewTrunk(state, accountId, name, limits) }
            do {
                sid = try await provider.createTrunk(friendlyName: name)
            } catch {
                throw NumberError.fromProvider(error)
            }
        }
        sid = try Validation.name(sid, field: "providerTrunkSid", max: limits.providerSidLengthMax)
        guard sid.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)) })
        else { throw .invalid("providerTrunkSid", "provider trunk SID must be letters and digits") }
        let now = now()
        do {
            return try await coordinator.perform { [sid] state throws(NumberError) in
                try Self.checkNewTrunk(state, accountId, name, limits)
                // A SIP trunk registered by its SID is nobody else's: another account's trunk must not receive this
                // account's calls. (A trunk the provider just made is new; were it not, it is not deleted below.)
                guard managed || state.providerTrunks[sid] == nil else {
                    throw NumberError(
                        .alreadyExists, .invalidField, "provider trunk \(sid) is already registered",
                        details: ["field": "providerTrunkSid"])
                }
                let trunk = Trunk(
                    id: Identifier.make(Identifier.trunk, taken: state.isTaken), accountId: accountId, name: name,
                    providerTrunkSid: sid, createdAt: now, providerManaged: managed ? true : nil)
                return ([.trunkCreated(trunk)], trunk)
            }
        } catch {
            // A concurrent change refused it after the provider made the trunk: don't leave it there.
            if managed { await deleteProviderTrunk(sid) }
            throw error
        }
    }

    /// The account may get another trunk named `name`.
    private static func checkNewTrunk(
        _ state: CoreState, _ accountId: String, _ name: String, _ limits: NumberServiceConfig.Limits
    ) throws(NumberError) {
        _ = try state.requireActiveAccount(accountId)
        let owned = state.trunks(of: accountId)
        guard owned.count < limits.trunksPerAccountMax else {
            throw NumberError(
                .resourceExhausted, .limitExceeded, "the trunk limit of \(limits.trunksPerAccountMax) is reached",
                details: ["max": String(limits.trunksPerAccountMax)])
        }
        guard !owned.contains(where: { $0.name == name }) else {
            throw NumberError(.alreadyExists, .invalidField, "a trunk named \(name) exists", details: ["field": "name"])
        }
    }

    /// The account's trunks, oldest first.
    public func listTrunks(accountId: String) throws(NumberError) -> [Trunk] {
        try coordinator.read { state throws(NumberError) in
            _ = try state.requireAccount(accountId)
            return state.trunksOldestFirst(of: accountId)
        }
    }

    /// Best effort: a trunk left at the provider costs nothing and holds no numbers; it is logged for cleanup.
    private func deleteProviderTrunk(_ sid: String) async {
        do {
            try await provider.deleteTrunk(sid: sid)
        } catch {
            logger.warning("could not delete a provider trunk", metadata: ["trunkSid": "\(sid)", "error": "\(error)"])
        }
    }

    /// Deletes a trunk that routes no numbers; a trunk numberd created at the provider is deleted there too.
    public func deleteTrunk(accountId: String, trunkId: String) async throws(NumberError) {
        let trunk: Trunk = try await coordinator.perform { state throws(NumberError) in
            _ = try state.requireActiveAccount(accountId)
            let trunk = try state.requireTrunk(trunkId, of: accountId)
            let inUse = state.heldNumbers(of: accountId).filter { $0.number.trunkId == trunkId }
            let pending = state.intents.values.contains { $0.trunkId == trunkId }
            let routing = local.withLock { $0.routing.values.contains(trunkId) }
            guard inUse.isEmpty && !pending && !routing else {
                let what = pending ? " and a purchase in progress" : routing ? " and a number being routed to it" : ""
                throw NumberError(
                    .failedPrecondition, .trunkInUse, "trunk \(trunkId) has \(inUse.count) numbers\(what)",
                    details: ["trunkId": trunkId, "numbers": String(inUse.count)])
            }
            return ([.trunkDeleted(trunkId: trunkId)], trunk)
        }
        if trunk.providerManaged == true { await deleteProviderTrunk(trunk.providerTrunkSid) }
    }
}

extension CoreState {
    /// The trunk if it belongs to the account; another account's trunk is NOT_FOUND, like a missing one.
    func requireTrunk(_ trunkId: String, of accountId: String) throws(NumberError) -> Trunk {
        guard let trunk = trunks[trunkId], trunk.accountId == accountId else { throw .trunkNotFound(trunkId) }
        return trunk
    }
}
