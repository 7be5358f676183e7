/// Names one RPC and the message types it takes and returns.
///
/// ```swift
/// let method = NumbersMethods.purchaseNumbers
/// print(method.path)  // "/numbers.v1.Numbers/PurchaseNumbers"
/// ```
public struct MethodDescriptor<Request: Codable & Sendable, Response: Codable & Sendable>: Sendable, Hashable {
    /// The fully qualified service, `numbers.v1.Numbers`.
    public let service: String
    /// The method name, `PurchaseNumbers`.
    public let method: String
    /// The path sent in the HEADERS frame: `/<service>/<method>`.
    public let path: String

    /// Creates a descriptor.
    public init(service: String, method: String) {
        self.service = service
        self.method = method
        self.path = "/\(service)/\(method)"
    }
}
