/*
 * shardnet's HPSocket4C: base types, handles, enums and callback types, ABI-compatible with
 * HP-Socket 5.8's Linux headers (HPTypeDef.h, GlobalDef.h, HPSocket4C.h). Written for
 * shardnet; the names and values are HP-Socket's so that its programs build unchanged.
 */
#ifndef SHARDNET_HP_TYPEDEF_H
#define SHARDNET_HP_TYPEDEF_H

#include <stddef.h>
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
typedef BYTE* LPBYTE;
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

#endif
