"""TuningPolicy: pure logic for its status and the seeds' 48-hour completion criteria."""
