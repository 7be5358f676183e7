// The client library: see NumbersClient.
