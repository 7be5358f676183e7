import NumberServer
import Testing

@Suite("ConnectionMemo: proved authorization headers per connection")
struct ConnectionMemoTests {
    @Test("several keys on one connection are all remembered, each to its own key id")
    func severalKeys() {
        let memo = ConnectionMemo()
        for index in 0..<8 { memo.remember(authorization: "Bearer nk_\(index)", keyId: "KEY_\(index)") }
        for index in 0..<8 { #expect(memo.keyId(forAuthorization: "Bearer nk_\(index)") == "KEY_\(index)") }
        #expect(memo.keyId(forAuthorization: "Bearer nk_8") == nil)
        #expect(memo.keyId(forAuthorization: "Bearer nk_0 ") == nil, "only a byte-for-byte equal header")
    }

    @Test("at most entriesMax headers are kept; re-proving a known header evicts nothing")
    func bounded() {
        let memo = ConnectionMemo()
        let limit = ConnectionMemo.entriesMax
        for index in 0..<limit { memo.remember(authorization: "h\(index)", keyId: "k\(index)") }
        #expect(memo.count == limit)
        memo.remember(authorization: "h0", keyId: "k0")
        #expect(memo.count == limit)
        #expect((0..<limit).allSatisfy { memo.keyId(forAuthorization: "h\($0)") == "k\($0)" })
        memo.remember(authorization: "h\(limit)", keyId: "k\(limit)")
        #expect(memo.count == limit)
        #expect(memo.keyId(forAuthorization: "h\(limit)") == "k\(limit)")
        let kept = (0...limit).filter { memo.keyId(forAuthorization: "h\($0)") != nil }.count
        #expect(kept == limit)
    }
}
