// The AWS SDK for JavaScript v3 (@aws-sdk/client-kinesis) against a real `tidelog serve`
// started here. The v3 Kinesis client speaks HTTP/2 (NodeHttp2Handler), so against an
// http:// endpoint every call below, SubscribeToShard included, is h2c.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import {
  KinesisClient, CreateStreamCommand, DescribeStreamSummaryCommand, PutRecordCommand,
  PutRecordsCommand, ListShardsCommand, GetShardIteratorCommand, GetRecordsCommand,
  SubscribeToShardCommand, ListStreamsCommand, DeleteStreamCommand, waitUntilStreamExists,
  ResourceNotFoundException, RegisterStreamConsumerCommand, DescribeStreamConsumerCommand,
} from "@aws-sdk/client-kinesis";

const root = resolve(import.meta.dirname, "../../..");
const bin = process.env.TIDELOG_BIN ??
  ["release", "debug"].map((p) => join(root, "target", p, "tidelog")).find(existsSync);
const credentials = { accessKeyId: "AKIDJSTEST", secretAccessKey: "js-secret" };
let server, dataDir, client;

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "tidelog-js-"));
  server = spawn(bin, ["serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--cores", "1",
                       "--heartbeat-seconds", "1"],
                 { env: { ...process.env, TIDELOG_ACCESS_KEYS: "AKIDJSTEST:js-secret" },
                   stdio: ["ignore", "pipe", "inherit"] });
  const line = await new Promise((ok, fail) => {
    createInterface({ input: server.stdout }).once("line", ok);
    server.once("exit", (code) => fail(new Error(`tidelog serve exited ${code}`)));
  });
  const endpoint = line.match(/listening on (\S+)/)[1];
  client = new KinesisClient({ endpoint, region: "us-east-1", credentials, maxAttempts: 1 });
});

after(async () => {
  client?.destroy();
  if (server) {
    const exited = new Promise((ok) => server.once("exit", ok));
    server.kill("SIGTERM");
    assert.equal(await exited, 0);
  }
  rmSync(dataDir, { recursive: true, force: true });
});

test("streams, puts and reads", async () => {
  await client.send(new CreateStreamCommand({ StreamName: "js", ShardCount: 2 }));
  await waitUntilStreamExists({ client, maxWaitTime: 30, minDelay: 1 }, { StreamName: "js" });
  const summary = (await client.send(new DescribeStreamSummaryCommand({ StreamName: "js" })))
    .StreamDescriptionSummary;
  assert.equal(summary.OpenShardCount, 2);
  assert.ok(summary.StreamCreationTimestamp instanceof Date);
  assert.ok(Math.abs(summary.StreamCreationTimestamp.getTime() - Date.now()) < 60_000);
  const data = new Uint8Array([0, 1, 2, 255, 254]);
  const put = await client.send(new PutRecordCommand({
    StreamName: "js", PartitionKey: "k", Data: data, ExplicitHashKey: "0" }));
  assert.equal(put.ShardId, "shardId-000000000000");
  const batch = await client.send(new PutRecordsCommand({ StreamName: "js", Records:
    Array.from({ length: 20 }, (_, i) => ({ PartitionKey: `p${i}`, Data: new TextEncoder().encode(`r${i}`) })) }));
  assert.equal(batch.FailedRecordCount, 0);
  assert.equal(batch.Records.length, 20);
  const shards = (await client.send(new ListShardsCommand({ StreamName: "js" }))).Shards;
  assert.deepEqual(shards.map((s) => s.ShardId), ["shardId-000000000000", "shardId-000000000001"]);
  let total = 0;
  for (const shard of shards) {
    const { ShardIterator } = await client.send(new GetShardIteratorCommand({
      StreamName: "js", ShardId: shard.ShardId, ShardIteratorType: "TRIM_HORIZON" }));
    const out = await client.send(new GetRecordsCommand({ ShardIterator }));
    total += out.Records.length;
    for (const r of out.Records) {
      assert.ok(r.ApproximateArrivalTimestamp instanceof Date);
      if (r.SequenceNumber === put.SequenceNumber) assert.deepEqual(r.Data, data);
    }
  }
  assert.equal(total, 21);
  assert.ok((await client.send(new ListStreamsCommand({}))).StreamNames.includes("js"));
});

test("errors are typed exceptions", async () => {
  await assert.rejects(client.send(new DescribeStreamSummaryCommand({ StreamName: "missing" })),
    (e) => e instanceof ResourceNotFoundException && e.$metadata.httpStatusCode === 400);
  const stranger = new KinesisClient({ endpoint: client.config.endpoint, region: "us-east-1",
    credentials: { accessKeyId: "AKIDJSTEST", secretAccessKey: "wrong" }, maxAttempts: 1 });
  await assert.rejects(stranger.send(new ListStreamsCommand({})), (e) => e.name === "InvalidSignatureException");
  stranger.destroy();
});

test("SubscribeToShard over h2c", async () => {
  const arn = (await client.send(new DescribeStreamSummaryCommand({ StreamName: "js" })))
    .StreamDescriptionSummary.StreamARN;
  const { Consumer } = await client.send(new RegisterStreamConsumerCommand({
    StreamARN: arn, ConsumerName: "js-app" }));
  assert.ok(Consumer.ConsumerARN.startsWith(`${arn}/consumer/js-app:`));
  assert.ok(Consumer.ConsumerCreationTimestamp instanceof Date);
  const described = await client.send(new DescribeStreamConsumerCommand({
    ConsumerARN: Consumer.ConsumerARN }));
  assert.equal(described.ConsumerDescription.ConsumerStatus, "ACTIVE");
  const out = await client.send(new SubscribeToShardCommand({
    ConsumerARN: Consumer.ConsumerARN, ShardId: "shardId-000000000000",
    StartingPosition: { Type: "LATEST" } }));
  setTimeout(() => {
    client.send(new PutRecordCommand({ StreamName: "js", PartitionKey: "k",
      Data: new TextEncoder().encode("pushed"), ExplicitHashKey: "0" }));
  }, 300);
  for await (const event of out.EventStream) {
    const e = event.SubscribeToShardEvent;
    assert.ok(e, JSON.stringify(Object.keys(event)));
    if (e.Records.length === 0) continue; // a heartbeat before the put lands
    assert.equal(new TextDecoder().decode(e.Records[0].Data), "pushed");
    assert.equal(e.ContinuationSequenceNumber, e.Records[0].SequenceNumber);
    break;
  }
  await client.send(new DeleteStreamCommand({ StreamName: "js", EnforceConsumerDeletion: true }));
});
