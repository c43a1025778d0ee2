/*
 * shardnet's HPSocket4C: base types, handles, enums and callback types, ABI-compatible with
 * HP-Socket 5.8's Linux headers (HPTypeDef.h, GlobalDef.h, HPSocket4C.h). Written for
 * shardnet; the names and values are HP-Socket's so that its programs build unchanged.
 */
#ifndef SHARDNET_HP_TYPEDEF_H
#define SHARDNET_HP_TYPEDEF_H

#include <stddef.h>
#include <time.h>
#include <wchar.h>

#ifdef __cplusplus
#define EXTERN_C extern "C"
#else
#define EXTERN_C extern
#endif

#define HPSOCKET_API EXTERN_C __attribute__((__visibility__("default")))
#define __HP_CALL

/* ---- base types (LP64 Linux; TCHAR is char) ---- */
typedef int BOOL;
#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif
typedef unsigned char BYTE;
/* The cookie helpers' time (HP's GlobalDef.h: Unix seconds, time_t, 64 bits on LP64). */
#ifndef __time64_t
#define __time64_t time_t
#endif
typedef BYTE* LPBYTE;
typedef const BYTE* LPCBYTE;
typedef unsigned short USHORT;
typedef unsigned short WORD;
typedef unsigned int UINT;
typedef unsigned int DWORD;
typedef unsigned long ULONG;
typedef unsigned long UINT_PTR;
typedef unsigned long ULONG_PTR;
typedef unsigned long long ULONGLONG;
typedef void* PVOID;
typedef void* LPVOID;
typedef char CHAR;
typedef char TCHAR;
typedef const char* LPCSTR;
typedef const TCHAR* LPCTSTR;
typedef TCHAR* LPTSTR;
typedef int SOCKET;
typedef unsigned long CONNID;
typedef unsigned long HP_CONNID;
typedef unsigned long THR_ID;
typedef int FD;
typedef int INT;
typedef void VOID;

#ifndef INFINITE
#define INFINITE ((DWORD)-1)
#endif
#ifndef NO_ERROR
#define NO_ERROR 0
#endif

/* A buffer: Windows' field order (len, buf). */
typedef struct _WSABUF {
    UINT len;
    LPBYTE buf;
} WSABUF, *PWSABUF, *LPWSABUF;

/* ---- enums ---- */
typedef enum EnServiceState {
    SS_STARTING = 0,
    SS_STARTED = 1,
    SS_STOPPING = 2,
    SS_STOPPED = 3
} En_HP_ServiceState;

typedef enum EnSocketOperation {
    SO_UNKNOWN = 0,
    SO_ACCEPT = 1,
    SO_CONNECT = 2,
    SO_SEND = 3,
    SO_RECEIVE = 4,
    SO_CLOSE = 5
} En_HP_SocketOperation;

typedef enum EnHandleResult {
    HR_OK = 0,
    HR_IGNORE = 1,
    HR_ERROR = 2
} En_HP_HandleResult;

typedef enum EnFetchResult {
    FR_OK = 0,
    FR_LENGTH_TOO_LONG = 1,
    FR_DATA_NOT_FOUND = 2
} En_HP_FetchResult;

typedef enum EnSendPolicy {
    SP_PACK = 0,
    SP_SAFE = 1,
    SP_DIRECT = 2
} En_HP_SendPolicy;

typedef enum EnOnSendSyncPolicy {
    OSSP_NONE = 0,
    OSSP_CLOSE = 1,
    OSSP_RECEIVE = 2
} En_HP_OnSendSyncPolicy;

typedef enum EnIPAddrType {
    IPT_ALL = 0,
    IPT_IPV4 = 1,
    IPT_IPV6 = 2
} En_HP_IPAddrType;

typedef struct TIPAddr {
    En_HP_IPAddrType type;
    LPCTSTR address;
} *LPTIPAddr, HP_TIPAddr, *HP_LPTIPAddr;

typedef enum EnCastMode {
    CM_UNICAST = -1,
    CM_MULTICAST = 0,
    CM_BROADCAST = 1
} En_HP_CastMode;

typedef enum EnReuseAddressPolicy {
    RAP_NONE = 0,
    RAP_ADDR_ONLY = 1,
    RAP_ADDR_AND_PORT = 2
} En_HP_ReuseAddressPolicy;

typedef enum EnSocketError {
    SE_OK = NO_ERROR,
    SE_ILLEGAL_STATE = 1,
    SE_INVALID_PARAM = 2,
    SE_SOCKET_CREATE = 3,
    SE_SOCKET_BIND = 4,
    SE_SOCKET_PREPARE = 5,
    SE_SOCKET_LISTEN = 6,
    SE_CP_CREATE = 7,
    SE_WORKER_THREAD_CREATE = 8,
    SE_DETECT_THREAD_CREATE = 9,
    SE_SOCKE_ATTACH_TO_CP = 10,
    SE_CONNECT_SERVER = 11,
    SE_NETWORK = 12,
    SE_DATA_PROC = 13,
    SE_DATA_SEND = 14,
    SE_SSL_ENV_NOT_READY = 101
} En_HP_SocketError;

/* ---- HTTP (HP's _HTTP_SUPPORT part) ---- */
#ifndef _HTTP_SUPPORT
#define _HTTP_SUPPORT
#endif

typedef enum EnHttpVersion {
    HV_1_0 = 0x0001, /* MAKEWORD(1, 0) */
    HV_1_1 = 0x0101  /* MAKEWORD(1, 1) */
} En_HP_HttpVersion;

typedef enum EnHttpUrlField {
    HUF_SCHEMA = 0,
    HUF_HOST = 1,
    HUF_PORT = 2,
    HUF_PATH = 3,
    HUF_QUERY = 4,
    HUF_FRAGMENT = 5,
    HUF_USERINFO = 6,
    HUF_MAX = 7
} En_HP_HttpUrlField;

typedef enum EnHttpParseResult {
    HPR_OK = 0,
    HPR_SKIP_BODY = 1,
    HPR_UPGRADE = 2,
    HPR_ERROR = -1
} En_HP_HttpParseResult;

typedef enum EnHttpUpgradeType {
    HUT_NONE = 0,
    HUT_WEB_SOCKET = 1,
    HUT_HTTP_TUNNEL = 2,
    HUT_UNKNOWN = -1
} En_HP_HttpUpgradeType;

typedef enum EnHttpStatusCode {
    HSC_CONTINUE = 100, HSC_SWITCHING_PROTOCOLS = 101, HSC_PROCESSING = 102,
    HSC_OK = 200, HSC_CREATED = 201, HSC_ACCEPTED = 202, HSC_NON_AUTHORITATIVE_INFORMATION = 203,
    HSC_NO_CONTENT = 204, HSC_RESET_CONTENT = 205, HSC_PARTIAL_CONTENT = 206,
    HSC_MULTI_STATUS = 207, HSC_ALREADY_REPORTED = 208, HSC_IM_USED = 226,
    HSC_MULTIPLE_CHOICES = 300, HSC_MOVED_PERMANENTLY = 301, HSC_MOVED_TEMPORARILY = 302,
    HSC_SEE_OTHER = 303, HSC_NOT_MODIFIED = 304, HSC_USE_PROXY = 305, HSC_SWITCH_PROXY = 306,
    HSC_TEMPORARY_REDIRECT = 307, HSC_PERMANENT_REDIRECT = 308,
    HSC_BAD_REQUEST = 400, HSC_UNAUTHORIZED = 401, HSC_PAYMENT_REQUIRED = 402,
    HSC_FORBIDDEN = 403, HSC_NOT_FOUND = 404, HSC_METHOD_NOT_ALLOWED = 405,
    HSC_NOT_ACCEPTABLE = 406, HSC_PROXY_AUTHENTICATION_REQUIRED = 407,
    HSC_REQUEST_TIMEOUT = 408, HSC_CONFLICT = 409, HSC_GONE = 410, HSC_LENGTH_REQUIRED = 411,
    HSC_PRECONDITION_FAILED = 412, HSC_REQUEST_ENTITY_TOO_LARGE = 413,
    HSC_REQUEST_URI_TOO_LONG = 414, HSC_UNSUPPORTED_MEDIA_TYPE = 415,
    HSC_REQUESTED_RANGE_NOT_SATISFIABLE = 416, HSC_EXPECTATION_FAILED = 417,
    HSC_MISDIRECTED_REQUEST = 421, HSC_UNPROCESSABLE_ENTITY = 422, HSC_LOCKED = 423,
    HSC_FAILED_DEPENDENCY = 424, HSC_UNORDERED_COLLECTION = 425, HSC_UPGRADE_REQUIRED = 426,
    HSC_PRECONDITION_REQUIRED = 428, HSC_TOO_MANY_REQUESTS = 429,
    HSC_REQUEST_HEADER_FIELDS_TOO_LARGE = 431, HSC_UNAVAILABLE_FOR_LEGAL_REASONS = 451,
    HSC_RETRY_WITH = 449,
    HSC_INTERNAL_SERVER_ERROR = 500, HSC_NOT_IMPLEMENTED = 501, HSC_BAD_GATEWAY = 502,
    HSC_SERVICE_UNAVAILABLE = 503, HSC_GATEWAY_TIMEOUT = 504,
    HSC_HTTP_VERSION_NOT_SUPPORTED = 505, HSC_VARIANT_ALSO_NEGOTIATES = 506,
    HSC_INSUFFICIENT_STORAGE = 507, HSC_LOOP_DETECTED = 508, HSC_BANDWIDTH_LIMIT_EXCEEDED = 509,
    HSC_NOT_EXTENDED = 510, HSC_NETWORK_AUTHENTICATION_REQUIRED = 511,
    HSC_UNPARSEABLE_RESPONSE_HEADERS = 600
} En_HP_HttpStatusCode;

typedef struct TNVPair {
    LPCSTR name;
    LPCSTR value;
} HP_TNVPair,
    TParam, HP_TParam, *LPPARAM, *HP_LPPARAM,
    THeader, HP_THeader, *LPHEADER, *HP_LPHEADER,
    TCookie, HP_TCookie, *LPCOOKIE, *HP_LPCOOKIE;

/* ---- handles: every one is an opaque pointer ---- */
typedef PVOID HP_Object;
typedef HP_Object HP_Server;
typedef HP_Object HP_Agent;
typedef HP_Object HP_Client;
typedef HP_Object HP_TcpServer;
typedef HP_Object HP_TcpAgent;
typedef HP_Object HP_TcpClient;
typedef HP_Object HP_PullSocket;
typedef HP_Object HP_PullClient;
typedef HP_Object HP_TcpPullServer;
typedef HP_Object HP_TcpPullAgent;
typedef HP_Object HP_TcpPullClient;
typedef HP_Object HP_PackSocket;
typedef HP_Object HP_PackClient;
typedef HP_Object HP_TcpPackServer;
typedef HP_Object HP_TcpPackAgent;
typedef HP_Object HP_TcpPackClient;
typedef HP_Object HP_UdpServer;
typedef HP_Object HP_UdpArqServer;
typedef HP_Object HP_UdpClient;
typedef HP_Object HP_UdpArqClient;
typedef HP_Object HP_UdpNode;
typedef HP_Object HP_UdpCast;
typedef HP_Object HP_Http;
typedef HP_Object HP_HttpServer;
typedef HP_Object HP_HttpAgent;
typedef HP_Object HP_HttpClient;
typedef HP_Object HP_HttpSyncClient;

typedef HP_Object HP_Listener;
typedef HP_Object HP_ServerListener;
typedef HP_Object HP_AgentListener;
typedef HP_Object HP_ClientListener;
typedef HP_Object HP_TcpServerListener;
typedef HP_Object HP_TcpAgentListener;
typedef HP_Object HP_TcpClientListener;
typedef HP_Object HP_PullSocketListener;
typedef HP_Object HP_PullClientListener;
typedef HP_Object HP_TcpPullServerListener;
typedef HP_Object HP_TcpPullAgentListener;
typedef HP_Object HP_TcpPullClientListener;
typedef HP_Object HP_PackSocketListener;
typedef HP_Object HP_PackClientListener;
typedef HP_Object HP_TcpPackServerListener;
typedef HP_Object HP_TcpPackAgentListener;
typedef HP_Object HP_TcpPackClientListener;
typedef HP_Object HP_UdpServerListener;
typedef HP_Object HP_UdpArqServerListener;
typedef HP_Object HP_UdpClientListener;
typedef HP_Object HP_UdpArqClientListener;
typedef HP_Object HP_UdpNodeListener;
typedef HP_Object HP_UdpCastListener;
typedef HP_Object HP_HttpServerListener;
typedef HP_Object HP_HttpAgentListener;
typedef HP_Object HP_HttpClientListener;

/* ---- callbacks ---- */
typedef En_HP_HandleResult(__HP_CALL* HP_FN_Server_OnPrepareListen)(HP_Server pSender, UINT_PTR soListen);
typedef En_HP_HandleResult(__HP_CALL* HP_FN_Server_OnAccept)(HP_Server pSender, HP_CONNID dwConnID, UINT_PTR pClient);
typedef En_HP_HandleResult(__HP_CALL* HP_FN_Server_OnHandShake)(HP_Server pSender, HP_CONNID dwConnID);
typedef En_HP_HandleResult(__HP_CALL* HP_FN_Server_OnSend)(HP_Server pSender, HP_CONNID dwConnID, const BYTE* pData, int iLength);
typedef En_HP_HandleResult(__HP_CALL* HP_FN_Server_OnReceive)(HP_Server pSender, HP_CONNID dwConnID, const BYTE* pData, int iLength);
typedef En_HP_HandleResult(__HP_CALL* HP_FN_Server_OnPullReceive)(HP_Server pSender, HP_CONNID dwConnID, int iLength);
typedef En_HP_HandleResult(__HP_CALL* HP_FN_Server_OnClose)(HP_Server pSender, HP_CONNID dwConnID, En_HP_SocketOperation enOperation, int iErrorCode);
typedef En_HP_HandleResult(__HP_CALL* HP_FN_Server_OnShutdown)(HP_Server pSender);

typedef En_HP_HandleResult(__HP_CALL* HP_FN_Agent_OnPrepareConnect)(HP_Agent pSender, HP_CONNID dwConnID, UINT_PTR socket);
typedef En_HP_HandleResult(__HP_CALL* HP_FN_Agent_OnConnect)(HP_Agent pSender, HP_CONNID dwConnID);
typedef En_HP_HandleResult(__HP_CALL* HP_FN_Agent_OnHandShake)(HP_Agent pSender, HP_CONNID dwConnID);
typedef En_HP_HandleResult(__HP_CALL* HP_FN_Agent_OnSend)(HP_Agent pSender, HP_CONNID dwConnID, const BYTE* pData, int iLength);
typedef En_HP_HandleResult(__HP_CALL* HP_FN_Agent_OnReceive)(HP_Agent pSender, HP_CONNID dwConnID, const BYTE* pData, int iLength);
typedef En_HP_HandleResult(__HP_CALL* HP_FN_Agent_OnPullReceive)(HP_Agent pSender, HP_CONNID dwConnID, int iLength);
typedef En_HP_HandleResult(__HP_CALL* HP_FN_Agent_OnClose)(HP_Agent pSender, HP_CONNID dwConnID, En_HP_SocketOperation enOperation, int iErrorCode);
typedef En_HP_HandleResult(__HP_CALL* HP_FN_Agent_OnShutdown)(HP_Agent pSender);

typedef En_HP_HandleResult(__HP_CALL* HP_FN_Client_OnPrepareConnect)(HP_Client pSender, HP_CONNID dwConnID, UINT_PTR socket);
typedef En_HP_HandleResult(__HP_CALL* HP_FN_Client_OnConnect)(HP_Client pSender, HP_CONNID dwConnID);
typedef En_HP_HandleResult(__HP_CALL* HP_FN_Client_OnHandShake)(HP_Client pSender, HP_CONNID dwConnID);
typedef En_HP_HandleResult(__HP_CALL* HP_FN_Client_OnSend)(HP_Client pSender, HP_CONNID dwConnID, const BYTE* pData, int iLength);
typedef En_HP_HandleResult(__HP_CALL* HP_FN_Client_OnReceive)(HP_Client pSender, HP_CONNID dwConnID, const BYTE* pData, int iLength);
typedef En_HP_HandleResult(__HP_CALL* HP_FN_Client_OnPullReceive)(HP_Client pSender, HP_CONNID dwConnID, int iLength);
typedef En_HP_HandleResult(__HP_CALL* HP_FN_Client_OnClose)(HP_Client pSender, HP_CONNID dwConnID, En_HP_SocketOperation enOperation, int iErrorCode);
typedef En_HP_HandleResult(__HP_CALL* HP_FN_UdpNode_OnPrepareListen)(HP_UdpNode pSender, UINT_PTR soListen);
typedef En_HP_HandleResult(__HP_CALL* HP_FN_UdpNode_OnSend)(HP_UdpNode pSender, LPCTSTR lpszRemoteAddress, USHORT usRemotePort, const BYTE* pData, int iLength);
typedef En_HP_HandleResult(__HP_CALL* HP_FN_UdpNode_OnReceive)(HP_UdpNode pSender, LPCTSTR lpszRemoteAddress, USHORT usRemotePort, const BYTE* pData, int iLength);
typedef En_HP_HandleResult(__HP_CALL* HP_FN_UdpNode_OnError)(HP_UdpNode pSender, En_HP_SocketOperation enOperation, int iErrorCode, LPCTSTR lpszRemoteAddress, USHORT usRemotePort, const BYTE* pData, int iLength);
typedef En_HP_HandleResult(__HP_CALL* HP_FN_UdpNode_OnShutdown)(HP_UdpNode pSender);

typedef En_HP_HttpParseResult(__HP_CALL* HP_FN_Http_OnMessageBegin)(HP_Http pSender, HP_CONNID dwConnID);
typedef En_HP_HttpParseResult(__HP_CALL* HP_FN_Http_OnRequestLine)(HP_Http pSender, HP_CONNID dwConnID, LPCSTR lpszMethod, LPCSTR lpszUrl);
typedef En_HP_HttpParseResult(__HP_CALL* HP_FN_Http_OnStatusLine)(HP_Http pSender, HP_CONNID dwConnID, USHORT usStatusCode, LPCSTR lpszDesc);
typedef En_HP_HttpParseResult(__HP_CALL* HP_FN_Http_OnHeader)(HP_Http pSender, HP_CONNID dwConnID, LPCSTR lpszName, LPCSTR lpszValue);
typedef En_HP_HttpParseResult(__HP_CALL* HP_FN_Http_OnHeadersComplete)(HP_Http pSender, HP_CONNID dwConnID);
typedef En_HP_HttpParseResult(__HP_CALL* HP_FN_Http_OnBody)(HP_Http pSender, HP_CONNID dwConnID, const BYTE* pData, int iLength);
typedef En_HP_HttpParseResult(__HP_CALL* HP_FN_Http_OnChunkHeader)(HP_Http pSender, HP_CONNID dwConnID, int iLength);
typedef En_HP_HttpParseResult(__HP_CALL* HP_FN_Http_OnChunkComplete)(HP_Http pSender, HP_CONNID dwConnID);
typedef En_HP_HttpParseResult(__HP_CALL* HP_FN_Http_OnMessageComplete)(HP_Http pSender, HP_CONNID dwConnID);
typedef En_HP_HttpParseResult(__HP_CALL* HP_FN_Http_OnUpgrade)(HP_Http pSender, HP_CONNID dwConnID, En_HP_HttpUpgradeType enUpgradeType);
typedef En_HP_HttpParseResult(__HP_CALL* HP_FN_Http_OnParseError)(HP_Http pSender, HP_CONNID dwConnID, int iErrorCode, LPCSTR lpszErrorDesc);
typedef En_HP_HandleResult(__HP_CALL* HP_FN_Http_OnWSMessageHeader)(HP_Http pSender, HP_CONNID dwConnID, BOOL bFinal, BYTE iReserved, BYTE iOperationCode, const BYTE lpszMask[4], ULONGLONG ullBodyLen);
typedef En_HP_HandleResult(__HP_CALL* HP_FN_Http_OnWSMessageBody)(HP_Http pSender, HP_CONNID dwConnID, const BYTE* pData, int iLength);
typedef En_HP_HandleResult(__HP_CALL* HP_FN_Http_OnWSMessageComplete)(HP_Http pSender, HP_CONNID dwConnID);

typedef HP_FN_Http_OnMessageBegin HP_FN_HttpServer_OnMessageBegin;
typedef HP_FN_Http_OnRequestLine HP_FN_HttpServer_OnRequestLine;
typedef HP_FN_Http_OnHeader HP_FN_HttpServer_OnHeader;
typedef HP_FN_Http_OnHeadersComplete HP_FN_HttpServer_OnHeadersComplete;
typedef HP_FN_Http_OnBody HP_FN_HttpServer_OnBody;
typedef HP_FN_Http_OnChunkHeader HP_FN_HttpServer_OnChunkHeader;
typedef HP_FN_Http_OnChunkComplete HP_FN_HttpServer_OnChunkComplete;
typedef HP_FN_Http_OnMessageComplete HP_FN_HttpServer_OnMessageComplete;
typedef HP_FN_Http_OnUpgrade HP_FN_HttpServer_OnUpgrade;
typedef HP_FN_Http_OnParseError HP_FN_HttpServer_OnParseError;
typedef HP_FN_Http_OnWSMessageHeader HP_FN_HttpServer_OnWSMessageHeader;
typedef HP_FN_Http_OnWSMessageBody HP_FN_HttpServer_OnWSMessageBody;
typedef HP_FN_Http_OnWSMessageComplete HP_FN_HttpServer_OnWSMessageComplete;
typedef HP_FN_Server_OnPrepareListen HP_FN_HttpServer_OnPrepareListen;
typedef HP_FN_Server_OnAccept HP_FN_HttpServer_OnAccept;
typedef HP_FN_Server_OnHandShake HP_FN_HttpServer_OnHandShake;
typedef HP_FN_Server_OnReceive HP_FN_HttpServer_OnReceive;
typedef HP_FN_Server_OnSend HP_FN_HttpServer_OnSend;
typedef HP_FN_Server_OnClose HP_FN_HttpServer_OnClose;
typedef HP_FN_Server_OnShutdown HP_FN_HttpServer_OnShutdown;

typedef HP_FN_Http_OnMessageBegin HP_FN_HttpAgent_OnMessageBegin;
typedef HP_FN_Http_OnStatusLine HP_FN_HttpAgent_OnStatusLine;
typedef HP_FN_Http_OnHeader HP_FN_HttpAgent_OnHeader;
typedef HP_FN_Http_OnHeadersComplete HP_FN_HttpAgent_OnHeadersComplete;
typedef HP_FN_Http_OnBody HP_FN_HttpAgent_OnBody;
typedef HP_FN_Http_OnChunkHeader HP_FN_HttpAgent_OnChunkHeader;
typedef HP_FN_Http_OnChunkComplete HP_FN_HttpAgent_OnChunkComplete;
typedef HP_FN_Http_OnMessageComplete HP_FN_HttpAgent_OnMessageComplete;
typedef HP_FN_Http_OnUpgrade HP_FN_HttpAgent_OnUpgrade;
typedef HP_FN_Http_OnParseError HP_FN_HttpAgent_OnParseError;
typedef HP_FN_Http_OnWSMessageHeader HP_FN_HttpAgent_OnWSMessageHeader;
typedef HP_FN_Http_OnWSMessageBody HP_FN_HttpAgent_OnWSMessageBody;
typedef HP_FN_Http_OnWSMessageComplete HP_FN_HttpAgent_OnWSMessageComplete;
typedef HP_FN_Agent_OnPrepareConnect HP_FN_HttpAgent_OnPrepareConnect;
typedef HP_FN_Agent_OnConnect HP_FN_HttpAgent_OnConnect;
typedef HP_FN_Agent_OnHandShake HP_FN_HttpAgent_OnHandShake;
typedef HP_FN_Agent_OnReceive HP_FN_HttpAgent_OnReceive;
typedef HP_FN_Agent_OnSend HP_FN_HttpAgent_OnSend;
typedef HP_FN_Agent_OnClose HP_FN_HttpAgent_OnClose;
typedef HP_FN_Agent_OnShutdown HP_FN_HttpAgent_OnShutdown;

typedef HP_FN_Http_OnMessageBegin HP_FN_HttpClient_OnMessageBegin;
typedef HP_FN_Http_OnStatusLine HP_FN_HttpClient_OnStatusLine;
typedef HP_FN_Http_OnHeader HP_FN_HttpClient_OnHeader;
typedef HP_FN_Http_OnHeadersComplete HP_FN_HttpClient_OnHeadersComplete;
typedef HP_FN_Http_OnBody HP_FN_HttpClient_OnBody;
typedef HP_FN_Http_OnChunkHeader HP_FN_HttpClient_OnChunkHeader;
typedef HP_FN_Http_OnChunkComplete HP_FN_HttpClient_OnChunkComplete;
typedef HP_FN_Http_OnMessageComplete HP_FN_HttpClient_OnMessageComplete;
typedef HP_FN_Http_OnUpgrade HP_FN_HttpClient_OnUpgrade;
typedef HP_FN_Http_OnParseError HP_FN_HttpClient_OnParseError;
typedef HP_FN_Http_OnWSMessageHeader HP_FN_HttpClient_OnWSMessageHeader;
typedef HP_FN_Http_OnWSMessageBody HP_FN_HttpClient_OnWSMessageBody;
typedef HP_FN_Http_OnWSMessageComplete HP_FN_HttpClient_OnWSMessageComplete;
typedef HP_FN_Client_OnPrepareConnect HP_FN_HttpClient_OnPrepareConnect;
typedef HP_FN_Client_OnConnect HP_FN_HttpClient_OnConnect;
typedef HP_FN_Client_OnHandShake HP_FN_HttpClient_OnHandShake;
typedef HP_FN_Client_OnReceive HP_FN_HttpClient_OnReceive;
typedef HP_FN_Client_OnSend HP_FN_HttpClient_OnSend;
typedef HP_FN_Client_OnClose HP_FN_HttpClient_OnClose;

/* ---- thread pool (HP's IHPThreadPool in C) ---- */
typedef unsigned long WPARAM;
typedef long LPARAM;
typedef HP_Object HP_ThreadPool;
typedef HP_Object HP_ThreadPoolListener;

typedef enum EnRejectedPolicy {
    TRP_CALL_FAIL = 0,
    TRP_WAIT_FOR = 1,
    TRP_CALLER_RUN = 2
} En_HP_RejectedPolicy;

typedef enum EnTaskBufferType {
    TBT_COPY = 0,
    TBT_REFER = 1,
    TBT_ATTACH = 2
} En_HP_TaskBufferType;

typedef void(__HP_CALL* Fn_TaskProc)(PVOID pvArg);
typedef Fn_TaskProc HP_Fn_TaskProc;
struct TSocketTask;
typedef void(__HP_CALL* Fn_SocketTaskProc)(struct TSocketTask* pTask);
typedef Fn_SocketTaskProc HP_Fn_SocketTaskProc;

typedef struct TSocketTask {
    HP_Fn_SocketTaskProc fn;
    PVOID sender;
    HP_CONNID connID;
    LPCBYTE buf;
    INT bufLen;
    En_HP_TaskBufferType bufType;
    WPARAM wparam;
    LPARAM lparam;
} TSocketTask, *LPTSocketTask, HP_TSocketTask, *HP_LPTSocketTask;

#endif
