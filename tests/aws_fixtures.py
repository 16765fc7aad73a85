"""AWS emulator fixtures (moto server on 127.0.0.1); filled in by the AWS collection work."""
