// The baseline: a bare express 5 handler that reads the body and answers 200. Prints its port.
import express from 'express';

const app = express();
app.post('/webhooks/stripe', express.raw({ type: () => true, limit: 1_048_576 }), (_req, res) => {
  res.json({ received: true });
});
const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${typeof address === 'object' && address ? address.port : 0}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
