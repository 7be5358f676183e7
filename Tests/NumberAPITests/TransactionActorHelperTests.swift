import NumberAPI
import Testing

/// `Transaction.actorKeyId` and `isSystemActor` tell a key's transactions from numberd's own and from those posted
/// before numberd recorded an actor (empty).
@Suite("Transaction actor helpers")
struct TransactionActorHelperTests {
    @Test(
        "a key id, numberd's own names, none recorded",
        arguments: [
            ("KEY_0a1b2c3d4e5f", "KEY_0a1b2c3d4e5f", false), ("system:billing", nil, true),
            ("system:grace-period", nil, true), ("system:reconcile", nil, true), ("system:later", nil, true),
            ("", nil, false),
        ] as [(String, String?, Bool)])
    func helpers(actor: String, keyId: String?, system: Bool) {
        let transaction = Transaction(id: "TXN_1", actor: actor)
        #expect(transaction.actorKeyId == keyId)
        #expect(transaction.isSystemActor == system)
    }
}
