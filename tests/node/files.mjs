// The real @google/genai against the gateway: upload each file, use it in generate and stream, list, delete.
// Usage: node files.mjs BASE_URL API_KEY PATH=MIME... ; prints one JSON line of what the SDK got back.
import { GoogleGenAI, createPartFromUri, createUserContent } from "@google/genai";

const [baseUrl, apiKey, ...specs] = process.argv.slice(2);
const ai = new GoogleGenAI({ apiKey, httpOptions: { baseUrl } });
const model = "gemini-2.5-flash";
const report = { uploaded: [], fetched: [], generated: [], streamed: [], listed: [], deleted: [] };

for (const spec of specs) {
  const [path, mimeType] = spec.split("=");
  const file = await ai.files.upload({ file: path, config: { mimeType, displayName: path.split("/").pop() } });
  report.uploaded.push(file);
  report.fetched.push(await ai.files.get({ name: file.name }));
  const contents = createUserContent([createPartFromUri(file.uri, file.mimeType), "What is in this file?"]);
  report.generated.push((await ai.models.generateContent({ model, contents })).text);
  let streamed = "";
  for await (const chunk of await ai.models.generateContentStream({ model, contents })) streamed += chunk.text;
  report.streamed.push(streamed);
}
for await (const file of await ai.files.list({ config: { pageSize: 1 } })) report.listed.push(file.name);
for (const file of report.uploaded) {
  await ai.files.delete({ name: file.name });
  report.deleted.push(file.name);
}
console.log(JSON.stringify(report));
