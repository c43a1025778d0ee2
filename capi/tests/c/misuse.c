/* Misuse from C: NULL handles and buffers, unknown connection ids, calls before Start and
 * after Stop, buffers too small. Every call must return FALSE / an error code, never crash. */
#include <hpsocket/HPSocket4C.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static int failures = 0;
#define EXPECT(cond) do { if (!(cond)) { printf("FAIL line %d: %s\n", __LINE__, #cond); failures++; } } while (0)

static En_HP_HandleResult __HP_CALL OnReceive(HP_Server pSender, HP_CONNID dwConnID, const BYTE* pData, int iLength)
{
    (void)pSender; (void)dwConnID; (void)pData; (void)iLength;
    return HR_OK;
}

int main(void)
{
    BYTE buf[16] = {0};
    TCHAR addr[64];
    int len = sizeof(addr);
    USHORT port;
    DWORD count = 0;

    /* NULL everywhere */
    EXPECT(Create_HP_TcpServer(NULL) == NULL);
    EXPECT(!HP_Server_Start(NULL, "127.0.0.1", 0));
    EXPECT(!HP_Server_Send(NULL, 1, buf, 1));
    EXPECT(!HP_Server_Stop(NULL));
    EXPECT(HP_Server_GetConnectionCount(NULL) == 0);
    EXPECT(HP_Server_GetState(NULL) == SS_STOPPED);
    EXPECT(HP_Server_GetLastError(NULL) == SE_INVALID_PARAM);
    EXPECT(HP_TcpPullServer_Fetch(NULL, 1, buf, 1) == FR_DATA_NOT_FOUND);
    EXPECT(!HP_Client_Send(NULL, buf, 1));
    EXPECT(!HP_Agent_Connect(NULL, "127.0.0.1", 1, NULL));
    Destroy_HP_TcpServer(NULL);
    Destroy_HP_TcpServerListener(NULL);
    HP_Set_FN_Server_OnReceive(NULL, OnReceive);

    HP_TcpServerListener l = Create_HP_TcpServerListener();
    HP_Set_FN_Server_OnReceive(l, OnReceive);
    HP_TcpServer s = Create_HP_TcpServer(l);

    /* before Start */
    EXPECT(HP_Server_Wait(s, 0)); /* never started: stopped already, as HP */
    EXPECT(!HP_Server_Send(s, 1, buf, 1));
    EXPECT(SYS_GetLastError() == EPERM);
    EXPECT(!HP_Server_Stop(s));
    EXPECT(!HP_Server_GetAllConnectionIDs(s, NULL, &count));
    EXPECT(!HP_Server_HasStarted(s));

    /* a bad bind address: SE_SOCKET_BIND or SE_INVALID_PARAM, with a description */
    EXPECT(!HP_Server_Start(s, "256.1.1.1", 0));
    EXPECT(HP_Server_GetLastError(s) == SE_INVALID_PARAM || HP_Server_GetLastError(s) == SE_SOCKET_BIND);
    EXPECT(strlen(HP_Server_GetLastErrorDesc(s)) > 0);

    EXPECT(HP_Server_Start(s, "127.0.0.1", 0));
    EXPECT(HP_Server_HasStarted(s));
    /* unknown ids */
    EXPECT(!HP_Server_Send(s, 12345, buf, 1));
    EXPECT(SYS_GetLastError() == ENOENT);
    EXPECT(!HP_Server_Disconnect(s, 0, TRUE));
    EXPECT(!HP_Server_IsConnected(s, 12345));
    EXPECT(!HP_Server_GetRemoteAddress(s, 12345, addr, &len, &port));
    EXPECT(HP_TcpPullServer_Fetch(s, 12345, buf, 1) == FR_DATA_NOT_FOUND);
    PVOID extra;
    EXPECT(!HP_Server_GetConnectionExtra(s, 12345, &extra));
    EXPECT(!HP_Server_GetConnectionExtra(s, 12345, NULL));
    /* bad buffers */
    EXPECT(!HP_Server_Send(s, 12345, NULL, 5));
    EXPECT(!HP_Server_Send(s, 12345, buf, -1));
    EXPECT(!HP_Server_SendPackets(s, 12345, NULL, 3));
    EXPECT(!HP_Server_GetListenAddress(s, addr, NULL, &port));
    len = 1;
    EXPECT(!HP_Server_GetListenAddress(s, addr, &len, &port));
    EXPECT(len == 10);
    /* no connections: a NULL id buffer reports 0 needed and succeeds with room 0 */
    count = 0;
    EXPECT(HP_Server_GetAllConnectionIDs(s, NULL, &count) || count == 0);
    EXPECT(!HP_Server_GetAllConnectionIDs(s, NULL, NULL));

    EXPECT(HP_Server_Stop(s));
    EXPECT(!HP_Server_Stop(s)); /* already stopped */
    EXPECT(!HP_Server_Send(s, 12345, buf, 1));
    EXPECT(HP_Server_GetState(s) == SS_STOPPED);
    /* restart after stop */
    EXPECT(HP_Server_Start(s, "127.0.0.1", 0));
    EXPECT(HP_Server_Stop(s));
    Destroy_HP_TcpServer(s);
    Destroy_HP_TcpServerListener(l);

    /* a client's extra is the client's: set before Start, read back */
    HP_TcpClientListener cl = Create_HP_TcpClientListener();
    HP_TcpClient c = Create_HP_TcpClient(cl);
    HP_Client_SetExtra(c, (PVOID)42);
    EXPECT(HP_Client_GetExtra(c) == (PVOID)42);
    EXPECT(HP_Client_Wait(c, 0));
    EXPECT(!HP_Client_Start(c, NULL, 1, FALSE));
    Destroy_HP_TcpClient(c);
    Destroy_HP_TcpClientListener(cl);

    EXPECT(strcmp(HP_GetSocketErrorDesc(SE_SOCKET_BIND), "Bind SOCKET Fail") == 0);
    EXPECT(SYS_GetLastErrorStr() != NULL);
    printf("%d failures\n", failures);
    return failures ? 1 : 0;
}
