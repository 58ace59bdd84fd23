"""TuningPolicy: pure logic for its status and the 48-hour completion criteria."""
