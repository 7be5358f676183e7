import Foundation

extension NumberService {
    /// Creates a trunk for the account.
    public func createTrunk(accountId: String, name: String, providerTrunkSid: String) async throws(NumberError) -> Trunk {
        let limits = config.limits
        let name = try Validation.name(name, field: "name", max: limits.nameLengthMax)
        let sid = try Validation.name(providerTrunkSid, field: "providerTrunkSid", max: limits.providerSidLengthMax)
        guard sid.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)) })
        else { throw .invalid("providerTrunkSid", "provider trunk SID must be letters and digits") }
        let now = now()
        return try await coordinator.perform { state throws(NumberError) in
            _ = try state.requireActiveAccount(accountId)
            let owned = state.trunks.values.filter { $0.accountId == accountId }
            guard owned.count < limits.trunksPerAccountMax else {
                throw NumberError(
                    .resourceExhausted, .limitExceeded, "the trunk limit of \(limits.trunksPerAccountMax) is reached",
                    details: ["max": String(limits.trunksPerAccountMax)])
            }
            guard !owned.contains(where: { $0.name == name }) else {
                throw NumberError(.alreadyExists, .invalidField, "a trunk named \(name) exists", details: ["field": "name"])
            }
            let trunk = Trunk(
                id: Identifier.make(Identifier.trunk, taken: state.isTaken), accountId: accountId, name: name,
                providerTrunkSid: sid, createdAt: now)
            return ([.trunkCreated(trunk)], trunk)
        }
    }

    /// The account's trunks, oldest first.
    public func listTrunks(accountId: String) throws(NumberError) -> [Trunk] {
        try coordinator.read { state throws(NumberError) in
            _ = try state.requireAccount(accountId)
            return state.trunks.values.filter { $0.accountId == accountId }.sorted {
                ($0.createdAt, $0.id) < ($1.createdAt, $1.id)
            }
        }
    }

    /// Deletes a trunk that no number (and no purchase in progress) uses.
    public func deleteTrunk(accountId: String, trunkId: String) async throws(NumberError) {
        let _: Bool = try await coordinator.perform { state throws(NumberError) in
            _ = try state.requireActiveAccount(accountId)
            _ = try state.requireTrunk(trunkId, of: accountId)
            let inUse = state.numberIDs(of: accountId).filter {
                state.numbers[$0].map { $0.trunkId == trunkId && $0.status != .released } ?? false
            }
            let pending = state.intents.values.contains { $0.trunkId == trunkId }
            guard inUse.isEmpty && !pending else {
                throw NumberError(
                    .failedPrecondition, .trunkInUse,
                    "trunk \(trunkId) has \(inUse.count) numbers\(pending ? " and a purchase in progress" : "")",
                    details: ["trunkId": trunkId, "numbers": String(inUse.count)])
            }
            return ([.trunkDeleted(trunkId: trunkId)], true)
        }
    }
}

extension CoreState {
    /// The trunk if it belongs to the account; another account's trunk is NOT_FOUND, like a missing one.
    func requireTrunk(_ trunkId: String, of accountId: String) throws(NumberError) -> Trunk {
        guard let trunk = trunks[trunkId], trunk.accountId == accountId else { throw .trunkNotFound(trunkId) }
        return trunk
    }
}
