import NumberAPI
import Testing

@Suite("Status codes and errors")
struct StatusTests {
    @Test("codes carry gRPC's numbers and names")
    func codes() {
        #expect(StatusCode.all.count == 17)
        #expect(StatusCode.failedPrecondition.rawValue == 9)
        #expect(StatusCode.unauthenticated.name == "UNAUTHENTICATED")
        #expect(StatusCode(rawValue: 42).name == "CODE_42")
    }

    @Test("an RPCError survives its wire form")
    func wireForm() throws {
        let error = RPCError(
            code: .failedPrecondition, message: "balance too low", reason: "INSUFFICIENT_BALANCE",
            details: ["required": "200", "available": "50", "shortfall": "150"])
        #expect(RPCError(status: error.status) == error)
        #expect(RPCError(status: RpcStatus(code: 0)) == nil)
        #expect(
            error.description
                == "FAILED_PRECONDITION (INSUFFICIENT_BALANCE): balance too low; available=50 required=200 shortfall=150"
        )
    }

    @Test("open enums keep values this version does not know")
    func openEnums() {
        #expect(NumberStatus.active.description == "NUMBER_STATUS_ACTIVE")
        #expect(NumberStatus(rawValue: 99).description == "99")
        #expect(!NumberStatus(rawValue: 99).isKnown)
        #expect(NumbersMethods.purchaseNumbers.path == "/numbers.v1.Numbers/PurchaseNumbers")
        #expect(NumbersMethods.allPaths.count == 26)
    }
}
