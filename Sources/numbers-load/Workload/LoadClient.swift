import NumberAPI
import NumberClient

/// The calls the harness makes, so that a test can stand in for numberd; `NumbersClient` is the real one.
protocol LoadClient: Sendable {
    func searchNumbers(_ request: SearchNumbersRequest, options: CallOptions) async throws -> SearchNumbersResponse
    func purchaseNumbers(
        _ request: PurchaseNumbersRequest, options: CallOptions
    ) async throws -> PurchaseNumbersResponse
    func listNumbers(_ request: ListNumbersRequest, options: CallOptions) async throws -> ListNumbersResponse
    func getNumber(_ request: GetNumberRequest, options: CallOptions) async throws -> GetNumberResponse
    func releaseNumber(_ request: ReleaseNumberRequest, options: CallOptions) async throws -> ReleaseNumberResponse
    func getBalance(_ request: GetBalanceRequest, options: CallOptions) async throws -> GetBalanceResponse
    func revokeApiKey(_ request: RevokeApiKeyRequest, options: CallOptions) async throws -> RevokeApiKeyResponse
    func setAccountStatus(
        _ request: SetAccountStatusRequest, options: CallOptions
    ) async throws -> SetAccountStatusResponse
}

extension NumbersClient: LoadClient {}
