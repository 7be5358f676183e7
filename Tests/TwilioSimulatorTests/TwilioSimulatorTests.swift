import Testing

@testable import TwilioSimulator
