import NIOCore
import NumberAPI
import NumberClient
import NumberWire

extension WireSizes {
    /// Measures the frame bytes of one read call of each kind, by encoding the request, its HEADERS and the
    /// response exactly as the client and server do, and of a purchase's candidate search (its own limit). Purchases
    /// are not sampled (a sample would buy a number).
    static func sample(
        client: NumbersClient, account: LoadAccount, country: String, timeout: TimeAmount
    ) async throws -> WireSizes {
        let options = CallOptions(timeout: timeout, metadata: account.metadata)
        var sizes = WireSizes()
        let list = ListNumbersRequest(accountId: account.id)
        sizes.sizes[.list] = try size(
            NumbersMethods.listNumbers, list, try await client.listNumbers(list, options: options), account, timeout)
        let balance = GetBalanceRequest(accountId: account.id)
        sizes.sizes[.balance] = try size(
            NumbersMethods.getBalance, balance, try await client.getBalance(balance, options: options), account,
            timeout)
        if let numberId = account.numberIds.first {
            let get = GetNumberRequest(accountId: account.id, numberId: numberId)
            sizes.sizes[.get] = try size(
                NumbersMethods.getNumber, get, try await client.getNumber(get, options: options), account, timeout)
        }
        for limit in [WorkloadRunner.searchLimit, WorkloadRunner.candidateSearchLimit] {
            let search = SearchNumbersRequest(accountId: account.id, country: country, type: .local, limit: limit)
            let sized = try size(
                NumbersMethods.searchNumbers, search, try await client.searchNumbers(search, options: options),
                account, timeout)
            if limit == WorkloadRunner.searchLimit {
                sizes.sizes[.search] = sized
            } else {
                sizes.candidateSearch = sized
            }
        }
        return sizes
    }

    private static func size<Request, Response>(
        _ method: MethodDescriptor<Request, Response>, _ request: Request, _ response: Response, _ account: LoadAccount,
        _ timeout: TimeAmount
    ) throws -> (request: Int, response: Int) {
        var buffer = ByteBuffer()
        try ProtoEncoder().encode(
            RequestHeaders(
                method: method.path, timeoutMicros: timeout.nanoseconds / 1000,
                metadata: account.metadata),
            into: &buffer)
        let headers = buffer.readableBytes
        buffer.clear()
        try ProtoEncoder().encode(request, into: &buffer)
        let message = buffer.readableBytes
        buffer.clear()
        try ProtoEncoder().encode(response, into: &buffer)
        // HEADERS + MESSAGE out; MESSAGE + empty TRAILERS (OK) back.
        return (2 * Frame.headerLength + headers + message, 2 * Frame.headerLength + buffer.readableBytes)
    }
}
