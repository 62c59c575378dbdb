/* A minimal NVTX tool for tests: it records every range push and pop, so tests can check
 * trtpace's --nvtx ranges where Nsight Systems is not installed.
 *
 *   cc -shared -fPIC -I<cuda>/include count.c -o libcount.so -lpthread
 *   NVTX_INJECTION64_PATH=$PWD/libcount.so TRTPACE_NVTX_LOG=events.tsv trtpace sweep ... --nvtx
 *
 * NVTX3 (header-only in the app) dlopens the library named by NVTX_INJECTION64_PATH on the
 * app's first NVTX call and calls InitializeInjectionNvtx2, which fills in the function table
 * that every later call goes through. Each event becomes one tab-separated line of
 * TRTPACE_NVTX_LOG:
 *   push  DEPTH  DOMAIN  MESSAGE  PAYLOAD     (DEPTH: ranges open on the thread before it)
 *   pop   DEPTH  DOMAIN                       (DEPTH: ranges open after it; -1: nothing to pop)
 *   mark  -      DOMAIN  MESSAGE
 *   domain -     NAME                        (a domain created)
 * and at exit "total  PUSHES  POPS" closes the file. Domain "-" is NVTX's default domain, payload
 * "-" none. Every copy of NVTX in the process (each library that includes the headers) calls
 * InitializeInjectionNvtx2 once; all share this one log. */
#include <nvtx3/nvToolsExt.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static FILE* out;
static long pushes, pops;
static __thread int depth; /* push/pop ranges nest per thread */

/* A domain handle is the tool's to define: here, a copy of the domain's name. */
static nvtxDomainHandle_t domain_create(const char* name) {
  pthread_mutex_lock(&lock);
  if (out) fprintf(out, "domain\t-\t%s\n", name ? name : "");
  pthread_mutex_unlock(&lock);
  return (nvtxDomainHandle_t)strdup(name ? name : "");
}
static const char* domain_name(nvtxDomainHandle_t d) { return d ? (const char*)d : "-"; }

static const char* message_of(const nvtxEventAttributes_t* a) {
  if (!a) return "";
  if (a->messageType == NVTX_MESSAGE_TYPE_ASCII && a->message.ascii) return a->message.ascii;
  return "?"; /* unicode or registered strings: trtpace uses neither */
}

static void write_push(nvtxDomainHandle_t d, const char* message, const nvtxEventAttributes_t* a) {
  pthread_mutex_lock(&lock);
  ++pushes;
  if (out) {
    fprintf(out, "push\t%d\t%s\t%s\t", depth, domain_name(d), message);
    if (a && a->payloadType == NVTX_PAYLOAD_TYPE_UNSIGNED_INT64)
      fprintf(out, "%" PRIu64 "\n", (uint64_t)a->payload.ullValue);
    else
      fputs("-\n", out);
  }
  pthread_mutex_unlock(&lock);
  ++depth;
}

static int write_pop(nvtxDomainHandle_t d) {
  const int was = depth;
  if (depth > 0) --depth;
  pthread_mutex_lock(&lock);
  ++pops;
  if (out) fprintf(out, "pop\t%d\t%s\n", was > 0 ? depth : -1, domain_name(d));
  pthread_mutex_unlock(&lock);
  return was > 0 ? was - 1 : -1; /* NVTX: the level popped from, or negative on error */
}

static void write_mark(nvtxDomainHandle_t d, const char* message) {
  pthread_mutex_lock(&lock);
  if (out) fprintf(out, "mark\t-\t%s\t%s\n", domain_name(d), message);
  pthread_mutex_unlock(&lock);
}

static int domain_push_ex(nvtxDomainHandle_t d, const nvtxEventAttributes_t* a) {
  write_push(d, message_of(a), a);
  return depth - 1;
}
static int domain_pop(nvtxDomainHandle_t d) { return write_pop(d); }
static void domain_mark_ex(nvtxDomainHandle_t d, const nvtxEventAttributes_t* a) { write_mark(d, message_of(a)); }
static int push_ex(const nvtxEventAttributes_t* a) { return domain_push_ex(NULL, a); }
static int push_a(const char* message) {
  write_push(NULL, message ? message : "", NULL);
  return depth - 1;
}
static int pop(void) { return write_pop(NULL); }
static void mark_ex(const nvtxEventAttributes_t* a) { write_mark(NULL, message_of(a)); }
static void mark_a(const char* message) { write_mark(NULL, message ? message : ""); }

static void finish(void) {
  pthread_mutex_lock(&lock);
  if (out) {
    fprintf(out, "total\t%ld\t%ld\n", pushes, pops);
    fclose(out);
    out = NULL;
  }
  pthread_mutex_unlock(&lock);
}

/* Points slot `id` of `module`'s table at `fn` where the table has that slot. */
static int hook(const NvtxExportTableCallbacks* cb, NvtxCallbackModule module, unsigned id, NvtxFunctionPointer fn) {
  NvtxFunctionTable table = NULL;
  unsigned size = 0;
  if (!cb->GetModuleFunctionTable(module, &table, &size) || !table || id >= size || !table[id]) return 0;
  *table[id] = fn;
  return 1;
}

int InitializeInjectionNvtx2(NvtxGetExportTableFunc_t get_export_table) {
  const NvtxExportTableCallbacks* cb = (const NvtxExportTableCallbacks*)get_export_table(NVTX_ETID_CALLBACKS);
  if (!cb || cb->struct_size < sizeof(NvtxExportTableCallbacks)) return 0;
  pthread_mutex_lock(&lock);
  if (!out) {
    const char* path = getenv("TRTPACE_NVTX_LOG");
    out = fopen(path && *path ? path : "nvtx-events.tsv", "w");
    if (out) atexit(finish);
  }
  pthread_mutex_unlock(&lock);
  if (!out) return 0;
  int ok = 1;
  ok &= hook(cb, NVTX_CB_MODULE_CORE, NVTX_CBID_CORE_MarkEx, (NvtxFunctionPointer)mark_ex);
  ok &= hook(cb, NVTX_CB_MODULE_CORE, NVTX_CBID_CORE_MarkA, (NvtxFunctionPointer)mark_a);
  ok &= hook(cb, NVTX_CB_MODULE_CORE, NVTX_CBID_CORE_RangePushEx, (NvtxFunctionPointer)push_ex);
  ok &= hook(cb, NVTX_CB_MODULE_CORE, NVTX_CBID_CORE_RangePushA, (NvtxFunctionPointer)push_a);
  ok &= hook(cb, NVTX_CB_MODULE_CORE, NVTX_CBID_CORE_RangePop, (NvtxFunctionPointer)pop);
  ok &= hook(cb, NVTX_CB_MODULE_CORE2, NVTX_CBID_CORE2_DomainCreateA, (NvtxFunctionPointer)domain_create);
  ok &= hook(cb, NVTX_CB_MODULE_CORE2, NVTX_CBID_CORE2_DomainMarkEx, (NvtxFunctionPointer)domain_mark_ex);
  ok &= hook(cb, NVTX_CB_MODULE_CORE2, NVTX_CBID_CORE2_DomainRangePushEx, (NvtxFunctionPointer)domain_push_ex);
  ok &= hook(cb, NVTX_CB_MODULE_CORE2, NVTX_CBID_CORE2_DomainRangePop, (NvtxFunctionPointer)domain_pop);
  return ok;
}
