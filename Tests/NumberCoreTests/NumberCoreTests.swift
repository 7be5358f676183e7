import Testing

@testable import NumberCore
